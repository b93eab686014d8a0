package main

// `switchboard master`: a camera-like master on top of the public SDK.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

const masterHelp = `Usage: switchboard master --channel NAME [flags]

Joins a signaling channel as its master and streams media to every viewer
that connects: VP8, VP9 or AV1 in IVF and H.264 Annex-B for --video, Opus
in Ogg for --audio, told by their first bytes. Files are played paced by
their timestamps, and looped (see --loop).

Live input is read once, as it comes, still paced by its timestamps
(H.264 by --fps, which must be the encoder's rate): --video - or --audio -
reads stdin (one of them only), and a path that is not a regular file,
such as a FIFO or a device, is read live too. It never loops, and the
master stops when it ends. Viewers' pictures start at a key frame, so ask
the encoder for one every second or two (-g). For example, a camera:

  ffmpeg -f v4l2 -i /dev/video0 -c:v libvpx -deadline realtime -g 30 \
    -f ivf - | switchboard master --channel cam --video -

Viewers' data-channel messages are printed; with --data the master
answers each one with that message. Ctrl-C stops it; a second Ctrl-C
ends it at once.

Flags:
`

// masterFlags are the flags of `switchboard master`.
type masterFlags struct {
	peerFlags
	video, audio string
	fps          float64
	loop, json   bool
	loopSet      bool // --loop was given explicitly
	interval     time.Duration
	maxViewers   int
}

// runMaster is `switchboard master`.
func runMaster(args []string, stdout, stderr io.Writer) int {
	var f masterFlags
	fs := flag.NewFlagSet("switchboard master", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&f.video, "video", "", "video to stream: a file, .ivf (VP8, VP9, AV1) or .h264 (Annex-B), or live input: - for stdin, a FIFO or a device")
	fs.StringVar(&f.audio, "audio", "", "audio to stream: a file, .ogg (Opus), or live input: - for stdin, a FIFO or a device")
	fs.Float64Var(&f.fps, "fps", media.DefaultFrameRate, "frame rate of H.264, which has no timestamps (above 0, at most 1000); for live input, the encoder's")
	fs.BoolVar(&f.loop, "loop", true, "play files again from the start when they end; live input never loops, and --loop with live input only is refused")
	fs.BoolVar(&f.json, "json", false, "print status as JSON lines")
	fs.DurationVar(&f.interval, "stats-interval", time.Second, "how often to report the viewer count when it changed (positive)")
	fs.IntVar(&f.maxViewers, "max-viewers", client.DefaultMaxViewers,
		"viewers served at once; offers from more are refused (at least 1; the server's signaling.max_viewers_per_channel caps it too)")
	fs.Usage = func() { fmt.Fprint(stderr, masterHelp); fs.PrintDefaults() }
	check := func() error {
		fs.Visit(func(fl *flag.Flag) { f.loopSet = f.loopSet || fl.Name == "loop" })
		return f.check()
	}
	if code, ok := parseFlags(fs, &f.peerFlags, args, stderr, check); !ok {
		return code
	}
	s, err := f.newSession("switchboard master", stderr)
	if err != nil {
		return setupFailure("switchboard master", stderr, err)
	}
	out := &printer{w: stdout, json: f.json}
	video, audio, err := f.openSources(out, s.log)
	if err != nil {
		return setupFailure(s.name, stderr, err)
	}
	defer video.close()
	defer audio.close()

	master, err := f.newMaster(s, out, video, audio)
	if err != nil {
		return setupFailure(s.name, stderr, err)
	}
	ctx, stop := interruptContext()
	defer stop()
	ctx, endOfInput := context.WithCancel(ctx)
	defer endOfInput()
	out.line("master on channel %q at %s (%s)%s", f.channel, s.endpoint, s.region, describeSources(video, audio, f.loop))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { out.watchPeers(master, f.interval, done) })
	wg.Go(func() { stopAtEndOfInput(ctx, endOfInput, out, video, audio) })
	err = master.Run(ctx)
	endOfInput()
	close(done)
	wg.Wait()
	if err != nil {
		return s.fail(stderr, f.channel, err)
	}
	out.line("master stopped")
	return exitOK
}

// maxFPS is the highest --fps: the media package plays no frame shorter
// than a millisecond.
const maxFPS = 1000

// check refuses flag values the master cannot run with.
func (f *masterFlags) check() error {
	if err := checkStatsInterval(f.interval); err != nil {
		return err
	}
	// The negated test also catches NaN, for which every comparison is false.
	if !(f.fps > 0 && f.fps <= maxFPS) {
		return fmt.Errorf("--fps must be above 0 and at most %d, got %v", maxFPS, f.fps)
	}
	if f.maxViewers < 1 {
		return fmt.Errorf("--max-viewers must be at least 1, got %d", f.maxViewers)
	}
	if f.video == stdinName && f.audio == stdinName {
		return errors.New("--video and --audio cannot both read stdin (-); give one of them a FIFO (see mkfifo)")
	}
	return nil
}

// newMaster builds the SDK master with the command's callbacks.
func (f *masterFlags) newMaster(s *session, out *printer, video, audio *masterInput) (*client.Master, error) {
	var master *client.Master
	cfg := client.MasterConfig{
		Client: s.kvs, Channel: f.channel, CreateChannel: f.create, ICE: s.ice, Logger: s.log,
		OnViewer: out.viewer, MaxViewers: f.maxViewers,
		OnMessage: func(viewerID string, data []byte) {
			out.message("viewer "+viewerID, data)
			if f.data != "" {
				if err := master.Send(viewerID, []byte(f.data)); err != nil {
					s.log.Warn("answering on the data channel", "error", err)
				}
			}
		},
	}
	if video != nil {
		cfg.Video = video.src
	}
	if audio != nil {
		cfg.Audio = audio.src
	}
	var err error
	master, err = client.NewMaster(cfg)
	return master, err
}

// describeSources says what the master streams, for its first line.
func describeSources(video, audio *masterInput, loop bool) string {
	var parts []string
	for _, in := range []*masterInput{video, audio} {
		if in != nil {
			parts = append(parts, in.describe(loop))
		}
	}
	if len(parts) == 0 {
		return "; no media, data channels only"
	}
	return "; streaming " + strings.Join(parts, " and ")
}

// printer writes the commands' output lines, as text or JSON, one
// writer at a time.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// line prints a text line (JSON mode: {"event":"info","text":...}).
func (p *printer) line(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if p.json {
		p.object(map[string]any{"event": "info", "text": text})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, text)
}

// object prints one JSON object on a line.
func (p *printer) object(v any) {
	b, _ := json.Marshal(v)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, string(b))
}

// message prints a data-channel message.
func (p *printer) message(from string, data []byte) {
	if p.json {
		p.object(map[string]any{"event": "message", "from": from, "data": string(data)})
		return
	}
	p.line("data from %s: %s", from, data)
}

// viewer prints a viewer's connection change.
func (p *printer) viewer(ev client.ViewerEvent) {
	if p.json {
		obj := map[string]any{"event": "viewer", "viewer": ev.ViewerID, "state": ev.State,
			"localCandidate": ev.LocalCandidate, "remoteCandidate": ev.RemoteCandidate, "viewers": ev.Peers}
		if ev.Err != nil {
			obj["error"] = ev.Err.Error()
		}
		p.object(obj)
		return
	}
	pair := ""
	if ev.LocalCandidate != "" {
		pair = fmt.Sprintf(" (%s/%s)", ev.LocalCandidate, ev.RemoteCandidate)
	}
	p.line("viewer %s %s%s; %d viewer(s)", ev.ViewerID, ev.State, pair, ev.Peers)
}

// watchPeers prints the master's peer connection count whenever it
// changed, until done closes.
func (p *printer) watchPeers(m *client.Master, every time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := -1
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		n := m.PeerCount()
		if n == last {
			continue
		}
		last = n
		if p.json {
			p.object(map[string]any{"event": "peers", "peerConnections": n, "goroutines": runtime.NumGoroutine()})
		} else {
			p.line("peer connections: %d", n)
		}
	}
}
