package main

// The media inputs of `switchboard master`: files, played from their start
// and looped, and live input (stdin, a FIFO, a device), read once as it
// comes.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/switchboard-rtc/switchboard/client/media"
)

// stdinName is the --video or --audio value that reads stdin.
const stdinName = "-"

// stdinPath reads stdin through a descriptor of its own: on Linux, opening
// it gives a pipe on stdin a new open file, which Go polls, so that
// closing it ends a Read under way (os.Stdin's cannot be interrupted).
const stdinPath = "/dev/stdin"

// masterInput is one media input of the master.
type masterInput struct {
	flag string // "--video" or "--audio"
	name string // the flag's value
	src  interface {
		media.Source
		Close() error
	}
	live *media.LiveSource // the same source when the input is live; nil for a file
}

// isLive reports whether the input named by a --video or --audio value is
// read live: stdin, or a path that is not a regular file (a FIFO, a
// character device). A path that cannot be looked at is left to OpenFile,
// which says why.
func isLive(name string) bool {
	if name == stdinName {
		return true
	}
	info, err := os.Stat(name)
	return err == nil && !info.Mode().IsRegular() && !info.IsDir()
}

// checkLoop refuses an explicit --loop when every input given is live:
// live input is read once and cannot be played again, so the flag can
// only be a misunderstanding. With a file among the inputs, it applies to
// the file.
func (f *masterFlags) checkLoop() error {
	if !f.loopSet || !f.loop {
		return nil
	}
	var live []string
	for _, in := range []struct{ flag, name string }{{"--video", f.video}, {"--audio", f.audio}} {
		if in.name == "" {
			continue
		}
		if !isLive(in.name) {
			return nil
		}
		live = append(live, in.flag+" "+in.name)
	}
	if len(live) == 0 {
		return nil
	}
	return fmt.Errorf("--loop: live input (%s) is read once, as it comes, and cannot loop; --loop applies to files", strings.Join(live, ", "))
}

// openSources opens the media inputs given, at the same time: opening a
// FIFO waits for its writer, and an encoder writing two FIFOs may open
// them in either order.
func (f *masterFlags) openSources(out *printer, log *slog.Logger) (video, audio *masterInput, err error) {
	if err := f.checkLoop(); err != nil {
		return nil, nil, err
	}
	var verr, aerr error
	var wg sync.WaitGroup
	if f.video != "" {
		wg.Go(func() { video, verr = f.openInput("--video", f.video, true, out, log) })
	}
	if f.audio != "" {
		wg.Go(func() { audio, aerr = f.openInput("--audio", f.audio, false, out, log) })
	}
	wg.Wait()
	if err := errors.Join(verr, aerr); err != nil {
		video.close()
		audio.close()
		return nil, nil, err
	}
	return video, audio, nil
}

// openInput opens one input and checks that it holds video, or audio.
func (f *masterFlags) openInput(flag, name string, video bool, out *printer, log *slog.Logger) (*masterInput, error) {
	in := &masterInput{flag: flag, name: name}
	var err error
	if isLive(name) {
		out.line("waiting for live %s on %s", kindOf(video), in.from())
		in.live, err = openLive(name, media.LiveOptions{FrameRate: f.fps, Logger: log.With("input", flag)})
		in.src = in.live
	} else {
		in.src, err = media.OpenFile(name, media.FileOptions{Loop: f.loop, FrameRate: f.fps})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if media.IsVideo(in.src.MimeType()) != video {
		in.close()
		return nil, fmt.Errorf("%s: %s holds %s, not %s", flag, in.from(), in.src.MimeType(), kindOf(video))
	}
	return in, nil
}

// openLive opens live input: a FIFO or a device, or stdin for "-".
func openLive(name string, opts media.LiveOptions) (*media.LiveSource, error) {
	if name != stdinName {
		return media.OpenLive(name, opts)
	}
	info, err := os.Stdin.Stat()
	if err == nil && info.Mode()&fs.ModeCharDevice != 0 {
		return nil, errors.New("stdin is a terminal (or another device), not a stream; pipe an encoder into it (see the example in --help)")
	}
	src, err := media.OpenLive(stdinPath, opts)
	var open *fs.PathError
	if errors.As(err, &open) && open.Op == "open" {
		// No /dev/stdin, or stdin is a socket, which cannot be opened
		// again: read os.Stdin itself.
		return media.NewLive(os.Stdin, opts)
	}
	return src, err
}

func kindOf(video bool) string {
	if video {
		return "video"
	}
	return "audio"
}

// from names where the input comes from, for messages.
func (in *masterInput) from() string {
	if in.name == stdinName {
		return "stdin"
	}
	return in.name
}

// close closes the input's source; a nil input is allowed.
func (in *masterInput) close() {
	if in != nil && in.src != nil {
		in.src.Close()
	}
}

// describe says what the master streams from the input.
func (in *masterInput) describe(loop bool) string {
	d := in.src.MimeType()
	switch {
	case in.live != nil:
		d += " live from " + in.from()
	case loop:
		d += " in a loop"
	}
	return d
}

// ended is closed when live input has ended; nil (never ready) for a file
// or no input.
func (in *masterInput) ended() <-chan struct{} {
	if in == nil || in.live == nil {
		return nil
	}
	return in.live.Done()
}

// stopAtEndOfInput stops the master, with stop, when a live input reaches
// its end: the encoder quit, and the master ends with it as a pipeline
// does. A live input that fails is left to the master, whose Run returns
// the error. It returns when ctx ends.
func stopAtEndOfInput(ctx context.Context, stop context.CancelFunc, out *printer, video, audio *masterInput) {
	var in *masterInput
	select {
	case <-ctx.Done():
		return
	case <-video.ended():
		in = video
	case <-audio.ended():
		in = audio
	}
	if in.live.Err() == nil {
		out.line("live %s from %s ended", kindOf(in.flag == "--video"), in.from())
		stop()
	}
}
