package client

import (
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/switchboard-rtc/switchboard/client/media"
)

// maxLatePackets is how many packets the sample builder waits for a
// missing one before giving up on its frame.
const maxLatePackets = 256

// videoClockRate is the RTP clock of every video codec.
const videoClockRate = 90000

// onTrack starts reading a track the master sends.
func (s *viewerSession) onTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	mimeType := track.Codec().MimeType
	s.log.Info("receiving a track", "codec", mimeType)
	s.v.count.setCodec(mimeType)
	s.readersMu.Lock()
	defer s.readersMu.Unlock()
	if s.closed {
		return // a track announced while the session closes: nothing to read
	}
	s.readers.Go(func() { drainReceiverRTCP(receiver) })
	s.readers.Go(func() { s.v.read(track, mimeType) })
}

// drainReceiverRTCP reads the sender reports that come with a track, so
// that the interceptors see them; it returns once the track ends.
func drainReceiverRTCP(receiver *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := receiver.Read(buf); err != nil {
			return
		}
	}
}

// read receives a track's RTP packets until the PeerConnection closes,
// counting bytes and putting video frames back together.
func (v *Viewer) read(track *webrtc.TrackRemote, mimeType string) {
	video := media.IsVideo(mimeType)
	var builder *samplebuilder.SampleBuilder
	if video {
		depacketizer := newDepacketizer(mimeType)
		if depacketizer == nil {
			v.log.Warn("cannot rebuild frames of this codec; counting bytes only", "codec", mimeType)
		} else {
			builder = samplebuilder.New(maxLatePackets, depacketizer, videoClockRate)
		}
	}
	var clock rtpClock
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		v.count.rate.add(len(pkt.Payload), time.Now())
		v.count.bytes.Add(uint64(len(pkt.Payload)))
		switch {
		case !video:
			v.deliver(mimeType, media.Frame{Data: pkt.Payload, Timestamp: clock.since(pkt.Timestamp, uint32(track.Codec().ClockRate)), KeyFrame: true})
		case builder != nil:
			builder.Push(pkt)
			for sample := builder.Pop(); sample != nil; sample = builder.Pop() {
				v.deliver(mimeType, media.Frame{
					Data:      sample.Data,
					Timestamp: clock.since(sample.PacketTimestamp, videoClockRate),
					Duration:  sample.Duration,
					KeyFrame:  media.IsKeyFrame(mimeType, sample.Data),
				})
			}
		}
	}
}

// deliver counts a frame and hands it to OnFrame.
func (v *Viewer) deliver(mimeType string, f media.Frame) {
	if media.IsVideo(mimeType) {
		if v.count.videoFrames.Add(1) == 1 {
			v.count.firstFrame.Store(int64(time.Since(v.started)))
		}
	} else {
		v.count.audioFrames.Add(1)
	}
	if v.cfg.OnFrame != nil {
		v.cfg.OnFrame(mimeType, f)
	}
}

// newDepacketizer returns the RTP depacketizer of a video codec, or nil.
func newDepacketizer(mimeType string) rtp.Depacketizer {
	switch {
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP8):
		return &codecs.VP8Packet{}
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP9):
		return &codecs.VP9Packet{}
	case strings.EqualFold(mimeType, webrtc.MimeTypeH264):
		return &codecs.H264Packet{}
	case strings.EqualFold(mimeType, webrtc.MimeTypeAV1):
		return &codecs.AV1Depacketizer{}
	}
	return nil
}

// rtpClock turns RTP timestamps into times since a track's first packet.
type rtpClock struct {
	first   uint32
	started bool
}

func (c *rtpClock) since(ts, rate uint32) time.Duration {
	if !c.started {
		c.first, c.started = ts, true
	}
	if rate == 0 {
		return 0
	}
	return time.Duration(uint64(ts-c.first) * uint64(time.Second) / uint64(rate))
}
