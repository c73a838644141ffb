package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// benchNotify measures how long an alert takes from its webhook being
// answered to its ntfy notification arriving.
func benchNotify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench notify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	webhooks := fs.Int("webhooks", 2000, "webhooks to post, each a new incident of one alert")
	clients := fs.Int("concurrency", 8, "concurrent clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "opsbot-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// A receiver that speaks enough of ntfy's publish API.
	var (
		mu       sync.Mutex
		received = map[string]time.Time{}
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			SequenceID string `json:"sequence_id"`
			Title      string `json:"title"`
		}
		if r.Method == http.MethodPost && json.NewDecoder(r.Body).Decode(&m) == nil {
			mu.Lock()
			if _, ok := received[m.Title]; !ok {
				received[m.Title] = time.Now()
			}
			mu.Unlock()
		}
		w.Write([]byte(`{"id":"x","event":"message"}`))
	})}
	go recv.Serve(ln)
	defer recv.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := filepath.Join(tmp, "opsbot.yaml")
	body := fmt.Sprintf("data_dir: %s\nhttp:\n  listen: 127.0.0.1:0\nnats:\n  listen: \"\"\nnotify:\n  ntfy:\n    - name: bench\n      url: http://%s\n      topic: bench\n      rate_per_minute: 100000000\n      burst: 100000\n",
		filepath.Join(tmp, "data"), ln.Addr())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return err
	}
	srv, err := startConfigured(ctx, exe, cfg)
	if err != nil {
		return err
	}
	defer srv.stop()

	bodies := make([][]byte, *webhooks)
	titles := make([]string, *webhooks)
	started := time.Now().UTC()
	for i := range bodies {
		hook := benchWebhook("n", i, 1, *webhooks, started)
		titles[i] = fmt.Sprintf("bench alert %d-0", i)
		if bodies[i], err = json.Marshal(hook); err != nil {
			return err
		}
	}
	answered := make([]time.Time, *webhooks)
	var wg sync.WaitGroup
	next := make(chan int)
	hc := &http.Client{Timeout: time.Minute}
	var postErr error
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				resp, err := hc.Post(srv.url+"/hooks/alertmanager", "application/json", bytes.NewReader(bodies[i]))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 202 {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					mu.Lock()
					postErr = err
					mu.Unlock()
					continue
				}
				answered[i] = time.Now()
			}
		}()
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	if postErr != nil {
		return postErr
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= *webhooks {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d notifications arrived", n, *webhooks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Incident ids follow the order the reducer applied the webhooks in:
	// match by title.
	lat := make([]time.Duration, *webhooks)
	mu.Lock()
	byTitle := map[string]time.Time{}
	for k, v := range received {
		if _, t, ok := cutID(k); ok {
			byTitle[t] = v
		}
	}
	mu.Unlock()
	for i, title := range titles {
		lat[i] = byTitle[title].Sub(answered[i])
	}
	fmt.Fprintf(stdout, "opsbot bench notify: %d webhooks of 1 alert (each a new incident), %d clients\n", *webhooks, *clients)
	fmt.Fprintf(stdout, "webhook answered -> ntfy request received: p50 %s, p99 %s, max %s\n", pct(lat, 50), pct(lat, 99), pct(lat, 100))
	return nil
}

// cutID splits "#12 title".
func cutID(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], len(s) > 0 && s[0] == '#'
		}
	}
	return "", "", false
}

// startConfigured runs "serve --config cfg" of exe.
func startConfigured(ctx context.Context, exe, cfg string) (*child, error) {
	c := &child{cmd: exec.Command(exe, "serve", "--config", cfg), done: make(chan struct{})}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := benchAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		c.cmd.Wait()
		close(c.done)
	}()
	select {
	case a := <-addr:
		c.url = "http://" + a
	case <-c.done:
		return nil, errors.New("opsbot serve exited at start")
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		return nil, errors.New("opsbot serve did not start in 30s")
	}
	return c, waitOK(ctx, c.url+"/readyz")
}
