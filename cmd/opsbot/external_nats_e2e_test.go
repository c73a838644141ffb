package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// TestExternalNATS runs opsbot against Debian's nats-server with JetStream
// instead of the embedded one, across a restart of opsbot.
func TestExternalNATS(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
			bin = "/usr/sbin/nats-server"
		} else if os.Getenv("OPSBOT_REQUIRE_REAL") != "" {
			t.Fatal("nats-server is not installed (apt-get install nats-server)")
		} else {
			t.Skip("nats-server is not installed; scripts/test.sh installs it")
		}
	}
	dir := t.TempDir()
	addr := freePort(t)
	host, port, _ := strings.Cut(addr, ":")
	daemon(t, bin, "-js", "-a", host, "-p", port, "-sd", filepath.Join(dir, "js"))
	config := writeConfig(t, dir, "")
	b, _ := os.ReadFile(config)
	os.WriteFile(config, []byte(strings.Replace(string(b), "  listen: \"\"\n", fmt.Sprintf("  url: nats://%s\n", addr), 1)), 0o600)

	waitFor(t, 10*time.Second, "nats-server to listen", func() bool { return tcpUp(addr) })
	p := start(t, config)
	if !contains(p.log(), "nats=nats://"+addr) {
		t.Fatalf("not using the external server:\n%s", p.log())
	}
	body := []byte(`{"id":"ext-1","source":"script","action":"trigger","dedup_key":"k","summary":"from a script"}`)
	if code, err := p.post("/api/v1/events", body); err != nil || code != 202 {
		t.Fatalf("event: %d %v", code, err)
	}
	p.settle(10 * time.Second)
	p.stop()
	// The stream and the consumer live in nats-server: a new opsbot with a
	// new database would replay them; the same database sees nothing new.
	p = start(t, config)
	if code, err := p.post("/api/v1/events", body); err != nil || code != 202 {
		t.Fatalf("event again: %d %v", code, err)
	}
	p.settle(10 * time.Second)
	all := p.all()
	if len(all) != 1 || all[0].State != incidents.Triggered || len(all[0].Timeline) != 2 {
		t.Fatalf("incidents: %+v", all)
	}
}
