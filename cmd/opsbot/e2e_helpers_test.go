package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/client"
	"github.com/opsbot/opsbot/incidents"
)

// binary is opsbot built once for the tests that run it as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "opsbot-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "opsbot")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building opsbot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const e2eToken = "e2e-token-0123456789abcdef"

// proc is a running opsbot serve.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// writeConfig writes a config for a test server in dir and returns its path.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`data_dir: %s
http:
  listen: 127.0.0.1:0
  tokens:
    - name: e2e
      token: %s
nats:
  listen: ""
  ack_wait: 2s
%s`, filepath.Join(dir, "data"), e2eToken, extra)
	path := filepath.Join(dir, "opsbot.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var addrRE = regexp.MustCompile(`http_addr=(\S+)`)

// start runs opsbot serve with the config and waits until it is ready.
func start(t *testing.T, config string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve", "--config", config)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := addrRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("opsbot log:\n%s", p.log())
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("opsbot exited at start:\n%s", p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("opsbot did not start in 30s:\n%s", p.log())
	}
	p.waitReady()
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("opsbot not ready in 30s:\n%s", p.log())
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("opsbot did not stop in 30s:\n%s", p.log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("opsbot exited %d:\n%s", code, p.log())
	}
}

func (p *proc) client() *client.Client { return &client.Client{BaseURL: p.url, Token: e2eToken} }

// post posts a body with the token and returns the status code.
func (p *proc) post(path string, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", p.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

var lagRE = regexp.MustCompile(`(?m)^opsbot_reducer_lag_messages (\S+)$`)

// settle waits until the reducer has applied everything in the stream.
func (p *proc) settle(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := lagRE.FindSubmatch(b); m != nil && string(m[1]) == "0" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("the reducer did not catch up in %s", timeout)
}

// all returns every incident with its alerts and timeline.
func (p *proc) all() []*incidents.Incident {
	p.t.Helper()
	ctx := context.Background()
	c := p.client()
	var out []*incidents.Incident
	var before int64
	for {
		page, err := c.ListIncidents(ctx, "all", 500, before)
		if err != nil {
			p.t.Fatal(err)
		}
		for _, i := range page.Incidents {
			inc, err := c.Incident(ctx, i.ID)
			if err != nil {
				p.t.Fatal(err)
			}
			out = append(out, inc)
		}
		if page.Next == 0 {
			return out
		}
		before = page.Next
	}
}

// cli runs the opsbot CLI against p and returns its output and exit code.
func (p *proc) cli(args ...string) (string, int) {
	p.t.Helper()
	cmd := exec.Command(binary, append(args, "--server", p.url)...)
	cmd.Env = append(os.Environ(), "OPSBOT_TOKEN="+e2eToken, "OPSBOT_ACTOR=carol")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatal(err)
	}
	return string(out), code
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func tcpUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// daemon starts a program for a test, its output in a file that is shown if
// the test fails, and stops it at the end of the test.
func daemon(t *testing.T, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
}

// ntfyTarget is a notify.ntfy entry of a test config: a topic named like
// the target on a local ntfy, with a rate limit no test reaches.
func ntfyTarget(name, url string) string {
	return fmt.Sprintf("    - name: %s\n      url: %s\n      topic: %s\n      rate_per_minute: 600\n      burst: 20\n", name, url, name)
}
