// Command opsbot is an event-driven alerting and ops bot: it turns alerts
// into stateful incidents kept in SQLite, on a NATS JetStream spine.
//
//	opsbot serve [--config FILE] [--listen ADDR] [--data DIR]
//	opsbot incidents list|show|ack|unack|resolve|snooze|comment ...
//	opsbot event send --source NAME --dedup-key KEY ...
//	opsbot notices [--source NAME]
//	opsbot bench ingest [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/opsbot/opsbot/client"
)

const usage = `usage: opsbot <command> [arguments]

commands:
  serve       run opsbot (embedded NATS, SQLite, HTTP API)
  incidents   list, show and act on incidents of a running opsbot
  notices     list what was recorded without an incident (image updates, ...)
  maintenance start, list and end maintenance windows
  audit       the audit log: every action people took or tried
  status      open incidents by severity, health and the last events
  deploy      deploy a target: deploy TARGET [REV] (a plan, a confirmation, the run)
  rollback    roll a target back: rollback TARGET [REV]
  deploys     the runs of deploys and rollbacks: deploys [TARGET]
  deploy-log  a run's output: deploy-log RUN [--follow]
  upgrade     upgrades of the flake: upgrade plan [INPUT...], upgrade show PLAN,
              upgrade apply PLAN (node by node), upgrade status ID, upgrade resume ID
  report      the upgrade report: report upgrade --now, report show ID
  reports     the reports made
  event       send an event (event send), from scripts, hooks and cron
  bench       measure a running opsbot (bench ingest)
  version     print the version

Run "opsbot <command> -h" for a command's flags.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, stop, args[1:], stderr)
	case "incidents", "incident":
		err = incidentsCmd(ctx, args[1:], stdout, stderr)
	case "event":
		err = eventCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		err = auditCmd(ctx, args[1:], stdout, stderr)
	case "status":
		err = statusCmd(ctx, args[1:], stdout, stderr)
	case "deploy", "rollback":
		err = deployCmd(ctx, args[0], args[1:], os.Stdin, stdout, stderr)
	case "deploy-approve":
		err = deployApproveCmd(ctx, args[1:], stdout, stderr)
	case "deploys":
		err = deploysCmd(ctx, args[1:], stdout, stderr)
	case "deploy-log":
		err = deployLogCmd(ctx, args[1:], stdout, stderr)
	case "upgrade":
		err = upgradeCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "report":
		err = reportCmd(ctx, args[1:], stdout, stderr)
	case "reports":
		err = reportsCmd(ctx, args[1:], stdout, stderr)
	case "maintenance":
		err = maintenanceCmd(ctx, args[1:], stdout, stderr)
	case "notices":
		err = noticesCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "opsbot", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "opsbot: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "opsbot:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "opsbot:", err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line: exit status 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// apiFlag adds --server to fs and returns what makes the API client of a
// running opsbot from it, with the token from OPSBOT_TOKEN, once parsed.
func apiFlag(fs *flag.FlagSet) func() *client.Client {
	server := fs.String("server", envOr("OPSBOT_SERVER", "http://127.0.0.1:8080"), "opsbot's URL")
	return func() *client.Client { return &client.Client{BaseURL: *server, Token: os.Getenv("OPSBOT_TOKEN")} }
}
