package main

// `switchboard master`: a camera-like master on top of the public SDK.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

const masterHelp = `Usage: switchboard master --channel NAME [flags]

Joins a signaling channel as its master and streams media files, looped
and paced by their timestamps, to every viewer that connects: VP8, VP9 or
AV1 in IVF and H.264 Annex-B for --video, Opus in Ogg for --audio.
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
	interval     time.Duration
	maxViewers   int
}

// runMaster is `switchboard master`.
func runMaster(args []string, stdout, stderr io.Writer) int {
	var f masterFlags
	fs := flag.NewFlagSet("switchboard master", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&f.video, "video", "", "video file to stream: .ivf (VP8, VP9, AV1) or .h264 (Annex-B)")
	fs.StringVar(&f.audio, "audio", "", "audio file to stream: .ogg (Opus)")
	fs.Float64Var(&f.fps, "fps", media.DefaultFrameRate, "frame rate of an H.264 file, which has no timestamps (above 0, at most 1000)")
	fs.BoolVar(&f.loop, "loop", true, "play the files again from the start when they end")
	fs.BoolVar(&f.json, "json", false, "print status as JSON lines")
	fs.DurationVar(&f.interval, "stats-interval", time.Second, "how often to report the viewer count when it changed (positive)")
	fs.IntVar(&f.maxViewers, "max-viewers", client.DefaultMaxViewers,
		"viewers served at once; offers from more are refused (at least 1; the server's signaling.max_viewers_per_channel caps it too)")
	fs.Usage = func() { fmt.Fprint(stderr, masterHelp); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, &f.peerFlags, args, stderr, f.check); !ok {
		return code
	}
	s, err := f.newSession("switchboard master", stderr)
	if err != nil {
		return setupFailure("switchboard master", stderr, err)
	}
	video, audio, err := f.openSources()
	if err != nil {
		return setupFailure(s.name, stderr, err)
	}
	defer closeSource(video)
	defer closeSource(audio)

	out := &printer{w: stdout, json: f.json}
	master, err := f.newMaster(s, out, video, audio)
	if err != nil {
		return setupFailure(s.name, stderr, err)
	}
	ctx, stop := interruptContext()
	defer stop()
	out.line("master on channel %q at %s (%s)%s", f.channel, s.endpoint, s.region, describeSources(video, audio, f.loop))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { out.watchPeers(master, f.interval, done) })
	err = master.Run(ctx)
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
	return nil
}

// newMaster builds the SDK master with the command's callbacks.
func (f *masterFlags) newMaster(s *session, out *printer, video, audio *media.FileSource) (*client.Master, error) {
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
		cfg.Video = video
	}
	if audio != nil {
		cfg.Audio = audio
	}
	var err error
	master, err = client.NewMaster(cfg)
	return master, err
}

// openSources opens the media files given.
func (f *masterFlags) openSources() (*media.FileSource, *media.FileSource, error) {
	opts := media.FileOptions{Loop: f.loop, FrameRate: f.fps}
	var video, audio *media.FileSource
	var err error
	if f.video != "" {
		if video, err = media.OpenFile(f.video, opts); err != nil {
			return nil, nil, fmt.Errorf("--video: %w", err)
		}
		if !media.IsVideo(video.MimeType()) {
			video.Close()
			return nil, nil, fmt.Errorf("--video: %s holds %s, not video", f.video, video.MimeType())
		}
	}
	if f.audio != "" {
		if audio, err = media.OpenFile(f.audio, opts); err != nil || media.IsVideo(audio.MimeType()) {
			closeSource(video)
			if err == nil {
				audio.Close()
				err = fmt.Errorf("%s holds video", f.audio)
			}
			return nil, nil, fmt.Errorf("--audio: %w", err)
		}
	}
	return video, audio, nil
}

func closeSource(s *media.FileSource) {
	if s != nil {
		s.Close()
	}
}

func describeSources(video, audio *media.FileSource, loop bool) string {
	if video == nil && audio == nil {
		return "; no media, data channels only"
	}
	d := "; streaming"
	if video != nil {
		d += " " + video.MimeType()
	}
	if audio != nil {
		d += " " + audio.MimeType()
	}
	if loop {
		d += " in a loop"
	}
	return d
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
