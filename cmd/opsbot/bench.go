package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

const benchUsage = `usage: opsbot bench ingest [flags]

Posts N Alertmanager webhooks of A alerts each from C concurrent clients to
opsbot and measures alerts/s until every alert is committed to an incident,
webhook latency and opsbot's peak RSS; then posts the same alerts to
Alertmanager's API (POST /api/v2/alerts) and prints the ratio.
`

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "notify" {
		return benchNotify(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		fmt.Fprint(stderr, benchUsage)
		return usageError("bench needs a benchmark: ingest or notify")
	}
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	server := fs.String("server", "", "a running opsbot; empty starts one with a temporary data directory")
	webhooks := fs.Int("webhooks", 2000, "webhooks to post")
	perHook := fs.Int("alerts", 10, "alerts per webhook")
	clients := fs.Int("concurrency", 16, "concurrent clients")
	groups := fs.Int("groups", 100, "Alertmanager groups (incidents) the alerts fall into")
	am := fs.String("alertmanager", "auto", `Alertmanager to compare with: a URL, "auto" (start Debian's prometheus-alertmanager if installed) or "none"`)
	sync := fs.String("synchronous", "full", "store.synchronous of an opsbot this command starts")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *webhooks < 1 || *perHook < 1 || *clients < 1 || *groups < 1 {
		return usageError("webhooks, alerts, concurrency and groups must be positive")
	}
	token := os.Getenv("OPSBOT_TOKEN")
	tmp, err := os.MkdirTemp("", "opsbot-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	opsPID := 0
	if *server == "" {
		srv, err := startSelf(ctx, tmp, *sync)
		if err != nil {
			return err
		}
		defer srv.stop()
		*server, opsPID = srv.url, srv.cmd.Process.Pid
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	started := time.Now().UTC()
	fmt.Fprintf(stdout, "opsbot bench ingest: %d webhooks x %d alerts, %d clients, %d groups\n\n", *webhooks, *perHook, *clients, *groups)

	bodies := make([][]byte, *webhooks)
	for i := range bodies {
		if bodies[i], err = json.Marshal(benchWebhook(run, i, *perHook, *groups, started)); err != nil {
			return err
		}
	}
	total := *webhooks * *perHook
	before, err := scrapeSum(ctx, *server, "opsbot_events_applied_total")
	if err != nil {
		return fmt.Errorf("reading %s/metrics: %w", *server, err)
	}
	cpu0 := cpuTime(opsPID)
	t0 := time.Now()
	lat, err := post(ctx, *server+"/hooks/alertmanager", token, bodies, *clients)
	if err != nil {
		return err
	}
	posted := time.Since(t0)
	for {
		n, err := scrapeSum(ctx, *server, "opsbot_events_applied_total")
		if err != nil {
			return err
		}
		if n-before >= float64(total) {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			return fmt.Errorf("only %.0f of %d alerts were committed in 10 minutes", n-before, total)
		}
		// Each scrape costs the server a database query and a NATS round
		// trip: poll gently, or the poll is what gets measured.
		time.Sleep(25 * time.Millisecond)
	}
	committed := time.Since(t0)
	opsCPU := perAlert(cpuTime(opsPID)-cpu0, total)
	rss, _ := scrapeSum(ctx, *server, "opsbot_process_peak_resident_memory_bytes")
	opsRate := float64(total) / committed.Seconds()

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\talerts/s\twebhook p50\twebhook p99\tpeak RSS\tCPU per alert\t")
	fmt.Fprintf(tw, "opsbot, stored and committed to incidents\t%.0f\t%s\t%s\t%.1f MiB\t%s\t\n", opsRate, pct(lat, 50), pct(lat, 99), rss/(1<<20), opsCPU)
	fmt.Fprintf(tw, "opsbot, stored in JetStream (answered)\t%.0f\t\t\t\t\t\n", float64(total)/posted.Seconds())

	amURL, amPID := *am, 0
	if *am == "auto" {
		amURL = ""
		if bin, err := exec.LookPath("prometheus-alertmanager"); err == nil {
			a, err := startBenchAlertmanager(ctx, bin, tmp)
			if err != nil {
				return err
			}
			defer a.stop()
			amURL, amPID = a.url, a.cmd.Process.Pid
		} else {
			fmt.Fprintln(stderr, "prometheus-alertmanager is not installed: no comparison (apt-get install prometheus-alertmanager)")
		}
	}
	if amURL != "" && amURL != "none" {
		amBodies := make([][]byte, *webhooks)
		for i := range amBodies {
			if amBodies[i], err = json.Marshal(benchPostable(run, i, *perHook, *groups, started)); err != nil {
				return err
			}
		}
		amCPU0 := cpuTime(amPID)
		t1 := time.Now()
		amLat, err := post(ctx, amURL+"/api/v2/alerts", "", amBodies, *clients)
		if err != nil {
			return err
		}
		amRate := float64(total) / time.Since(t1).Seconds()
		amCPU := perAlert(cpuTime(amPID)-amCPU0, total)
		amRSS := "-"
		if amPID != 0 {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", amPID)); err == nil {
				amRSS = fmt.Sprintf("%.1f MiB", vmHWM(string(b))/(1<<20))
			}
		}
		fmt.Fprintf(tw, "alertmanager, accepted into memory\t%.0f\t%s\t%s\t%s\t%s\t\n", amRate, pct(amLat, 50), pct(amLat, 99), amRSS, amCPU)
		tw.Flush()
		fmt.Fprintf(stdout, "\nratio opsbot committed / alertmanager accepted: %.2f\n", opsRate/amRate)
		return nil
	}
	tw.Flush()
	return nil
}

func benchWebhook(run string, i, per, groups int, started time.Time) map[string]any {
	group := fmt.Sprintf("Bench%04d", i%groups)
	alerts := make([]map[string]any, per)
	for j := range alerts {
		alerts[j] = map[string]any{
			"status":      "firing",
			"labels":      map[string]string{"alertname": group, "instance": fmt.Sprintf("host-%d-%d", i, j), "severity": "warning", "run": run},
			"annotations": map[string]string{"summary": fmt.Sprintf("bench alert %d-%d", i, j)},
			"startsAt":    started.Format(time.RFC3339Nano), "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://prometheus:9090/graph", "fingerprint": fmt.Sprintf("%s-%06d-%03d", run, i, j),
		}
	}
	return map[string]any{
		"version": "4", "status": "firing", "receiver": "opsbot", "externalURL": "http://alertmanager:9093",
		"groupKey":    fmt.Sprintf(`{}:{alertname="%s",run="%s"}`, group, run),
		"groupLabels": map[string]string{"alertname": group}, "commonLabels": map[string]string{"alertname": group},
		"alerts": alerts,
	}
}

func benchPostable(run string, i, per, groups int, started time.Time) []map[string]any {
	hook := benchWebhook(run, i, per, groups, started)
	var out []map[string]any
	for _, a := range hook["alerts"].([]map[string]any) {
		out = append(out, map[string]any{"labels": a["labels"], "annotations": a["annotations"], "startsAt": a["startsAt"], "generatorURL": a["generatorURL"]})
	}
	return out
}

// post sends every body from n clients and returns the latencies; any
// answer but 2xx is an error.
func post(ctx context.Context, url, token string, bodies [][]byte, n int) ([]time.Duration, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: time.Minute}
	lat := make([]time.Duration, len(bodies))
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		postErr error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						err = fmt.Errorf("POST %s: %s", url, resp.Status)
					}
				}
				lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					postErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return lat, postErr
}

func pct(d []time.Duration, p int) string {
	s := slices.Clone(d)
	slices.Sort(s)
	v := s[min(len(s)-1, len(s)*p/100)]
	return fmt.Sprintf("%.2f ms", float64(v.Microseconds())/1000)
}

// scrapeSum adds up every series of a metric on url's /metrics.
func scrapeSum(ctx context.Context, url, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// cpuTime is the user and system CPU time process pid has used, 0 if
// unknown (pid 0: a server this command did not start).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func perAlert(d time.Duration, n int) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(n))
}

func vmHWM(status string) float64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// child is a process the bench started.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

var benchAddrRE = regexp.MustCompile(`http_addr=(\S+)`)

// startSelf runs this binary's serve with a temporary data directory.
func startSelf(ctx context.Context, dir, synchronous string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "opsbot.yaml")
	body := fmt.Sprintf("data_dir: %s\nhttp:\n  listen: 127.0.0.1:0\nnats:\n  listen: \"\"\nstore:\n  synchronous: %s\n",
		filepath.Join(dir, "data"), synchronous)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	return startConfigured(ctx, exe, cfg)
}

func startBenchAlertmanager(ctx context.Context, bin, dir string) (*child, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600); err != nil {
		return nil, err
	}
	c := &child{cmd: exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn"), url: "http://" + addr, done: make(chan struct{})}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	return c, waitOK(ctx, c.url+"/-/ready")
}

func waitOK(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 in 30s", url)
}
