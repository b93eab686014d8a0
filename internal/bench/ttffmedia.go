package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client/media"
	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// syntheticVP8 is a camera that needs no file: 30 frames a second of 2 KB
// with a VP8 frame tag (a key frame every second). Nothing decodes them;
// the viewer only puts frames back together from their RTP packets.
type syntheticVP8 struct{}

// MimeType implements media.Source.
func (syntheticVP8) MimeType() string { return webrtc.MimeTypeVP8 }

// Stream implements media.Source.
func (syntheticVP8) Stream(ctx context.Context, send func(media.Frame) error) error {
	const fps = 30
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	body := bytes.Repeat([]byte{0x5a}, 2000)
	for i := 0; ; i++ {
		key := i%fps == 0
		data := append([]byte{0x11, 0x02, 0x00}, body...)
		if key {
			data = append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, body...)
		}
		frame := media.Frame{Data: data, Timestamp: time.Duration(i) * time.Second / fps, Duration: time.Second / fps, KeyFrame: key}
		if err := send(frame); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// masterConnected asks the server, through the signed presence extension
// operation, whether the channel has its master connected.
func (s *server) masterConnected(ctx context.Context, arn string) (bool, error) {
	body, _ := json.Marshal(kvsapi.DescribeSignalingChannelConnectionsInput{ChannelARN: &arn})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+kvsapi.PathDescribeSignalingChannelConnections, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := sigv4.SignRequest(req, body, s.Creds, benchRegion, "kinesisvideo", time.Now()); err != nil {
		return false, err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: s.TLS}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("presence: HTTP %d: %s", resp.StatusCode, data)
	}
	var out kvsapi.DescribeSignalingChannelConnectionsOutput
	return out.MasterConnected, json.Unmarshal(data, &out)
}
