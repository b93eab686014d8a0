package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrape reads the server's Prometheus metrics and returns, for each
// metric name, the sum of its samples (all label sets together).
func (s *server) scrape(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLS}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/metrics", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: GET /metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// waitMetric polls a metric until ok accepts its value or wait passes, and
// returns the last value seen: NaN when it was never read (the server did
// not answer, or did not report that metric), so that no comparison a
// check makes with it can hold.
func (s *server) waitMetric(ctx context.Context, name string, wait time.Duration, ok func(float64) bool) float64 {
	deadline := time.Now().Add(wait)
	last := math.NaN()
	for {
		if m, err := s.scrape(ctx); err == nil {
			if v, found := m[name]; found {
				last = v
				if ok(last) {
					return last
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
}
