// Command viewer is a minimal viewer on the Switchboard Go SDK: it joins a
// signaling channel, receives the master's video, prints statistics every
// second and saves the video to a file. See examples/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

func main() {
	channel := flag.String("channel", "demo", "signaling channel name")
	output := flag.String("output", "", "save the video here (.ivf or .h264)")
	relay := flag.Bool("relay-only", false, "use TURN relays only")
	flag.Parse()

	kvs, err := newClient()
	if err != nil {
		log.Fatal(err)
	}
	rec := &recording{path: *output}
	viewer, err := client.NewViewer(client.ViewerConfig{
		Client: kvs, Channel: *channel, ICE: client.ICEConfig{RelayOnly: *relay}, OnFrame: rec.write,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		for range time.Tick(time.Second) {
			st := viewer.Stats()
			fmt.Printf("%-10s %s/%s %6.0f kbit/s %5d frames  first frame %v  hole punching %v\n",
				st.State, st.LocalCandidate, st.RemoteCandidate, st.Bitrate/1000, st.VideoFrames,
				st.TimeToFirstFrame.Round(time.Millisecond), st.ICEHolePunchingDelay.Round(time.Millisecond))
		}
	}()
	err = viewer.Run(ctx)
	rec.close()
	if err != nil {
		log.Fatal(err)
	}
}

// recording saves video frames to a file created with the first one.
// Frames of another codec than the file's are skipped: the file could not
// hold them.
type recording struct {
	path     string
	mu       sync.Mutex
	w        media.Writer
	codec    string // the file's codec
	mismatch string // the other codec last reported
}

func (r *recording) write(mimeType string, f media.Frame) {
	if r.path == "" || !media.IsVideo(mimeType) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		w, err := media.CreateFile(r.path, mimeType)
		if err != nil {
			log.Print(err)
			r.path = ""
			return
		}
		r.w, r.codec = w, mimeType
	}
	if !strings.EqualFold(mimeType, r.codec) {
		if !strings.EqualFold(mimeType, r.mismatch) {
			log.Printf("not saving %s video: %s holds %s", mimeType, r.path, r.codec)
			r.mismatch = mimeType
		}
		return
	}
	r.mismatch = ""
	if err := r.w.WriteFrame(f); err != nil {
		log.Print(err)
	}
}

func (r *recording) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		r.w.Close()
	}
}
