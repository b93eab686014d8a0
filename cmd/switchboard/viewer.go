package main

// `switchboard viewer`: a viewer on top of the public SDK that receives,
// records and reports.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

const viewerHelp = `Usage: switchboard viewer --channel NAME [flags]

Joins a signaling channel as a viewer, receives the master's audio and
video, and prints a status line while it runs: connection state,
candidate pair types, bitrate, frames received, packet loss and
round-trip time, then the time to first frame and the ICE hole-punching
delay when they are known. --output saves the video (.ivf for VP8, VP9
and AV1, .h264 for H.264), from its first key frame. With --data it opens
a data channel, sends the message each time the channel opens, and
prints what the master sends. Ctrl-C stops it; a second Ctrl-C ends it
at once.

Flags:
`

// viewerFlags are the flags of `switchboard viewer`.
type viewerFlags struct {
	peerFlags
	clientID, output string
	frames           uint64
	duration         time.Duration
	interval         time.Duration
	json             bool
}

// runViewer is `switchboard viewer`.
func runViewer(args []string, stdout, stderr io.Writer) int {
	var f viewerFlags
	fs := flag.NewFlagSet("switchboard viewer", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&f.clientID, "client-id", "", "the viewer's client id (default: a random viewer-... id)")
	fs.StringVar(&f.output, "output", "", "save the received video to this file (.ivf or .h264)")
	fs.Uint64Var(&f.frames, "frames", 0, "stop after this many video frames (saved frames with --output); 0 runs until Ctrl-C")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long; 0 runs until Ctrl-C")
	fs.DurationVar(&f.interval, "stats-interval", time.Second, "how often to print the status (positive)")
	fs.BoolVar(&f.json, "json", false, "print statistics (and messages) as JSON lines")
	fs.Usage = func() { fmt.Fprint(stderr, viewerHelp); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, &f.peerFlags, args, stderr, f.check); !ok {
		return code
	}
	s, err := f.newSession("switchboard viewer", stderr)
	if err != nil {
		return setupFailure("switchboard viewer", stderr, err)
	}
	ctx, stop := interruptContext()
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	ctx, finish := context.WithCancelCause(ctx)
	defer finish(nil)
	out := &printer{w: stdout, json: f.json}
	rec := &recorder{path: f.output, limit: f.frames, done: func() { finish(nil) }, fail: finish, warn: out.line}
	viewer, err := f.newViewer(s, out, rec)
	if err != nil {
		return setupFailure(s.name, stderr, err)
	}
	out.line("viewer %s joining channel %q at %s (%s)", viewer.ClientID(), f.channel, s.endpoint, s.region)
	status := newStatus(out, isTerminal(stdout))
	var wg sync.WaitGroup
	wg.Go(func() { status.run(ctx, viewer, f.interval) })
	err = viewer.Run(ctx)
	finish(nil)
	wg.Wait()
	if st := viewer.Stats(); st.PeerConnections > 0 {
		status.final(st)
	}
	if cerr := rec.close(); cerr != nil && err == nil {
		err = cerr
	}
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		err = cause
	}
	if err != nil {
		return s.fail(stderr, f.channel, err)
	}
	switch saved := rec.saved(); {
	case f.output == "":
	case saved == 0:
		out.line("no video frames received; nothing saved to %s", f.output)
	default:
		out.line("saved %d video frames to %s", saved, f.output)
	}
	return exitOK
}

// check refuses flag values the viewer cannot run with.
func (f *viewerFlags) check() error {
	if err := checkStatsInterval(f.interval); err != nil {
		return err
	}
	if f.output != "" {
		if err := media.CheckOutputName(f.output); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	}
	return nil
}

// newViewer builds the SDK viewer with the command's callbacks.
func (f *viewerFlags) newViewer(s *session, out *printer, rec *recorder) (*client.Viewer, error) {
	var viewer *client.Viewer
	cfg := client.ViewerConfig{
		Client: s.kvs, Channel: f.channel, CreateChannel: f.create, ClientID: f.clientID,
		ICE: s.ice, DataChannel: f.data != "", Logger: s.log,
		OnMessage: func(data []byte) { out.message("master", data) },
		OnDataChannelOpen: func() {
			if err := viewer.Send([]byte(f.data)); err != nil {
				s.log.Warn("sending on the data channel", "error", err)
			}
		},
		OnFrame: rec.frame,
	}
	var err error
	viewer, err = client.NewViewer(cfg)
	return viewer, err
}

// recorder saves video frames when asked to, and ends the viewer after
// enough frames.
type recorder struct {
	path  string
	limit uint64
	done  func()
	fail  func(error)
	warn  func(format string, args ...any)

	mu       sync.Mutex
	w        media.Writer
	codec    string // the codec of the file, set with w
	mismatch string // the other codec last reported as not saved
	count    uint64 // frames counted towards limit
	failed   bool
}

// frame handles one received frame.
func (r *recorder) frame(mimeType string, f media.Frame) {
	if !media.IsVideo(mimeType) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed || r.limit > 0 && r.count >= r.limit {
		return
	}
	if r.path == "" {
		r.count++
	} else if !r.write(mimeType, f) {
		return
	}
	if r.limit > 0 && r.count >= r.limit {
		r.done()
	}
}

// write saves a frame, creating the file for the codec on the first; it
// reports whether the frame was saved. Frames of another codec (a master
// that restarted with other settings) are skipped, with a message each
// time the codec changes, as the file cannot hold them.
func (r *recorder) write(mimeType string, f media.Frame) bool {
	if r.w == nil {
		w, err := media.CreateFile(r.path, mimeType)
		if err != nil {
			r.failed = true
			r.fail(fmt.Errorf("--output: %w", err))
			return false
		}
		r.w, r.codec = w, mimeType
	}
	if !strings.EqualFold(mimeType, r.codec) {
		if !strings.EqualFold(mimeType, r.mismatch) {
			r.mismatch = mimeType
			if r.warn != nil {
				r.warn("--output: not saving %s video: %s holds %s", mimeType, r.path, r.codec)
			}
		}
		return false
	}
	r.mismatch = ""
	if !f.KeyFrame && r.count == 0 {
		return false // the file starts at a key frame
	}
	if err := r.w.WriteFrame(f); err != nil {
		r.failed = true
		r.fail(fmt.Errorf("--output: %w", err))
		return false
	}
	r.count++
	return true
}

// saved returns how many frames were saved.
func (r *recorder) saved() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// close finishes the file.
func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return nil
	}
	err := r.w.Close()
	r.w = nil
	return err
}

// isTerminal reports whether w is a terminal, where the status line is
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
