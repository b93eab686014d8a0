package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

// A camera-like master: it streams a VP8 file in a loop to every viewer
// of the channel until Ctrl-C.
func ExampleNewMaster() {
	kvs, err := client.New(client.Config{
		Endpoint:    "https://localhost:8443",
		Region:      "us-west-2",
		Credentials: client.DefaultCredentials(""), // AWS_ACCESS_KEY_ID..., or ~/.aws
	})
	if err != nil {
		log.Fatal(err)
	}
	video, err := media.OpenFile("testdata/clip.ivf", media.FileOptions{Loop: true})
	if err != nil {
		log.Fatal(err)
	}
	defer video.Close()
	master, err := client.NewMaster(client.MasterConfig{
		Client:        kvs,
		Channel:       "front-door",
		CreateChannel: true,
		Video:         video,
		OnViewer: func(ev client.ViewerEvent) {
			fmt.Printf("viewer %s is %s (%d viewers)\n", ev.ViewerID, ev.State, ev.Peers)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := master.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// A viewer that records the video it receives, forced onto TURN relays,
// and prints its statistics every second.
func ExampleNewViewer() {
	kvs, err := client.New(client.Config{
		Endpoint:    "https://localhost:8443",
		Region:      "us-west-2",
		Credentials: client.DefaultCredentials(""),
	})
	if err != nil {
		log.Fatal(err)
	}
	// OnFrame is called from the goroutines reading the tracks (and again
	// for each new PeerConnection), so the file and the first write error
	// are shared under a lock. A failure is kept for after Run rather than
	// ending the program from one of pion's goroutines.
	var (
		mu       sync.Mutex
		file     media.Writer
		writeErr error
	)
	viewer, err := client.NewViewer(client.ViewerConfig{
		Client:  kvs,
		Channel: "front-door",
		ICE:     client.ICEConfig{RelayOnly: true},
		OnFrame: func(mimeType string, f media.Frame) {
			if !media.IsVideo(mimeType) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if writeErr != nil {
				return
			}
			if file == nil {
				if file, writeErr = media.CreateFile("front-door.ivf", mimeType); writeErr != nil {
					return
				}
			}
			writeErr = file.WriteFrame(f)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for range time.Tick(time.Second) {
			st := viewer.Stats()
			fmt.Printf("%s %s/%s %d frames, %.0f kbit/s, first frame after %v\n",
				st.State, st.LocalCandidate, st.RemoteCandidate, st.VideoFrames, st.Bitrate/1000, st.TimeToFirstFrame)
		}
	}()
	runErr := viewer.Run(ctx) // no OnFrame call is running once Run returns
	mu.Lock()
	defer mu.Unlock()
	if file != nil {
		if err := file.Close(); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	if runErr != nil {
		log.Fatal(runErr)
	}
	if writeErr != nil {
		log.Fatal("recording: ", writeErr)
	}
}

// Messages on the data channel: the viewer greets the master when the
// channel opens, and the master answers every message.
func ExampleMaster_Send() {
	kvs, err := client.New(client.Config{Endpoint: "https://localhost:8443", Region: "us-west-2", Credentials: client.DefaultCredentials("")})
	if err != nil {
		log.Fatal(err)
	}
	var master *client.Master
	master, err = client.NewMaster(client.MasterConfig{
		Client: kvs, Channel: "chat",
		OnMessage: func(viewerID string, data []byte) {
			_ = master.Send(viewerID, append([]byte("you said: "), data...))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	var viewer *client.Viewer
	viewer, err = client.NewViewer(client.ViewerConfig{
		Client: kvs, Channel: "chat", DataChannel: true,
		OnDataChannelOpen: func() { _ = viewer.Send([]byte("hello")) },
		OnMessage:         func(data []byte) { fmt.Println(string(data)) },
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = master.Run(ctx) }()
	_ = viewer.Run(ctx)
}
