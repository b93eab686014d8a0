package media

import (
	"bufio"
	"bytes"
	"os"
	"testing"
)

// FuzzReaders feeds arbitrary bytes to the format detection and the
// readers: they may refuse, but must not panic or loop.
func FuzzReaders(f *testing.F) {
	for _, name := range []string{"clip.ivf", "clip.h264", "clip.ogg"} {
		data, err := os.ReadFile(clips + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 2048)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bufio.NewReader(bytes.NewReader(data)), 0)
		if err != nil {
			return
		}
		// Every frame takes at least one byte of the input (an IVF frame
		// header, a start code, an Ogg segment), so a reader that returns
		// more frames than that is looping.
		for range len(data) + 1 {
			if _, err := r.ReadFrame(); err != nil {
				return
			}
		}
		t.Fatal("a reader returned more frames than its input can hold")
	})
}

// FuzzIsKeyFrame: received frames come from the network.
func FuzzIsKeyFrame(f *testing.F) {
	f.Add([]byte{0x10, 0x02}, 0)
	f.Add([]byte{0, 0, 0, 1, 0x65}, 2)
	f.Add([]byte{0x0a, 0x01, 0x00, 0x32, 0x02, 0x10, 0xaa}, 3) // AV1 sequence header and key frame
	f.Fuzz(func(t *testing.T, data []byte, codec int) {
		mimes := []string{"video/VP8", "video/VP9", "video/H264", "video/AV1", "audio/opus"}
		IsKeyFrame(mimes[(codec%len(mimes)+len(mimes))%len(mimes)], data)
	})
}
