package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/switchboard-rtc/switchboard/client/media"
)

// readFrames reads every frame of a media file.
func readFrames(t *testing.T, path string) []media.Frame {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := media.NewReader(bufio.NewReader(bytes.NewReader(data)), 0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []media.Frame
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, f)
	}
}

// matchLoopedFrames checks that saved, a recording of source played in a
// loop and joined at some frame, is source's frame sequence: it finds
// where saved starts in the loop by its first frames' sizes, then
// requires every saved frame to have the size and the bytes of the
// source frame at the same place. It returns the index in source where
// the recording starts.
func matchLoopedFrames(saved, source []media.Frame) (int, error) {
	if len(saved) == 0 || len(source) == 0 {
		return 0, fmt.Errorf("nothing to compare: %d saved, %d source frames", len(saved), len(source))
	}
	const probe = 10 // frames whose sizes locate the start
	for start := range source {
		if !sizesMatch(saved, source, start, min(probe, len(saved))) {
			continue
		}
		for i, f := range saved {
			want := source[(start+i)%len(source)]
			if len(f.Data) != len(want.Data) || !bytes.Equal(f.Data, want.Data) {
				return start, fmt.Errorf("saved frame %d (%d bytes) differs from source frame %d (%d bytes)",
					i, len(f.Data), (start+i)%len(source), len(want.Data))
			}
		}
		return start, nil
	}
	return 0, fmt.Errorf("the first %d saved frames' sizes appear nowhere in the source", probe)
}

func sizesMatch(saved, source []media.Frame, start, n int) bool {
	for i := range n {
		if len(saved[i].Data) != len(source[(start+i)%len(source)].Data) {
			return false
		}
	}
	return true
}
