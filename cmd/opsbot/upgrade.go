package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/notify"
	"github.com/opsbot/opsbot/report"
	"github.com/opsbot/opsbot/store"
	"github.com/opsbot/opsbot/upgrade"
	"github.com/robfig/cron/v3"
)

// upgradeService builds the upgrade planner; nil when upgrades are off.
func upgradeService(cfg *config.Config, repo *deploy.Repo, st *store.Store, log *slog.Logger) *upgrade.Service {
	if len(cfg.Upgrade.Hosts) == 0 || repo == nil {
		return nil
	}
	return &upgrade.Service{Store: st, Log: log, Planner: &upgrade.Planner{
		Repo: repo, WorkDir: filepath.Join(cfg.DataDir, "upgrades"), Build: cfg.Upgrade.Build, Hosts: cfg.Upgrade.Hosts,
		Timeout: cfg.Upgrade.Timeout, Branch: cfg.Upgrade.Branch, Log: log, Now: time.Now,
	}}
}

// upgradeCmd is "opsbot upgrade plan [INPUT...]", "upgrade show PLAN",
// "upgrade apply PLAN" and "upgrade status ID".
func upgradeCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "apply" || args[0] == "status" || args[0] == "resume") {
		return upgradeApplyCmd(ctx, args, stdin, stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "plan" && args[0] != "show") {
		return usageError("upgrade plan [INPUT...] | upgrade show PLAN | upgrade apply PLAN | upgrade status ID | upgrade resume ID")
	}
	fs := flag.NewFlagSet("upgrade "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c := api()
	var p *upgrade.Plan
	if args[0] == "plan" {
		if p, err = c.UpgradePlan(ctx, handlers.UpgradePlanRequest{Inputs: pos, Actor: actor()}); err != nil {
			return err
		}
		fmt.Fprintln(stderr, p.Summary())
		for p.State == upgrade.Planning {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			if p, err = c.Upgrade(ctx, p.ID); err != nil {
				return err
			}
		}
	} else {
		var id int64
		if len(pos) == 1 {
			id, err = strconv.ParseInt(pos[0], 10, 64)
		}
		if len(pos) != 1 || err != nil || id < 1 {
			return usageError("upgrade show takes a plan id")
		}
		if p, err = c.Upgrade(ctx, id); err != nil {
			return err
		}
	}
	if *asJSON {
		p.Lock = ""
		return printJSON(stdout, p)
	}
	if p.State == upgrade.Failed {
		return errors.New(p.Summary())
	}
	fmt.Fprint(stdout, p.Report())
	return nil
}

// reporter builds the upgrade report, posted to the notify targets (those
// named in reports.upgrade.targets, or all); nil when upgrades are off.
func reporter(cfg *config.Config, plans *upgrade.Service, st *store.Store, targets map[string]notify.Target, pub report.Publisher, log *slog.Logger) *report.Reporter {
	if plans == nil {
		return nil
	}
	r := &report.Reporter{Planner: plans, Sources: st, Store: st, Publisher: pub, PublicURL: cfg.HTTP.PublicURL, Log: log, Now: time.Now,
		Posters: map[string]report.Poster{}, Pushers: map[string]report.Pusher{}}
	want := func(name string) bool {
		return len(cfg.Reports.Upgrade.Targets) == 0 || slices.Contains(cfg.Reports.Upgrade.Targets, name)
	}
	for name, t := range targets {
		if !want(name) {
			continue
		}
		switch n := t.Notifier.(type) {
		case report.Poster:
			r.Posters[name] = n
		case report.Pusher:
			r.Pushers[name] = n
		}
	}
	return r
}

// scheduleReport runs the upgrade report on its schedule (a failing run
// is the report's incident); stop ends the schedule, and what it returns
// is closed once a run in progress has ended.
func scheduleReport(cfg *config.Config, r *report.Reporter, log *slog.Logger) (stop func() <-chan struct{}, err error) {
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLogger(cronLog{log}))
	job := cron.NewChain(cron.Recover(cronLog{log}), cron.SkipIfStillRunning(cronLog{log})).Then(cron.FuncJob(func() {
		if _, err := r.Run(context.Background(), "schedule"); err != nil {
			log.Error("upgrade report", "err", err)
		}
	}))
	id, err := c.AddJob(cfg.Reports.Upgrade.Schedule, job)
	if err != nil {
		return nil, err
	}
	c.Start()
	log.Info("upgrade report scheduled", "schedule", cfg.Reports.Upgrade.Schedule, "next", c.Entry(id).Next)
	return func() <-chan struct{} { return c.Stop().Done() }, nil
}

// reportCmd is "opsbot report upgrade --now" and "opsbot report show ID".
func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "upgrade" && args[0] != "show") {
		return usageError("report upgrade --now | report show ID")
	}
	fs := flag.NewFlagSet("report "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	now := fs.Bool("now", false, "make the report now")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c := api()
	var id int64
	if args[0] == "upgrade" {
		if !*now || len(pos) > 0 {
			return usageError("report upgrade --now makes the upgrade report now; the schedule makes the others")
		}
		r, err := c.StartReport(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "upgrade report %d is being made\n", r.ID)
		id = r.ID
	} else if len(pos) != 1 {
		return usageError("report show takes a report id")
	} else if id, err = strconv.ParseInt(pos[0], 10, 64); err != nil {
		return usageError("report show takes a report id")
	}
	for {
		r, err := c.Report(ctx, id)
		if err != nil {
			return err
		}
		if r.State != report.Running {
			if r.State == report.Failed {
				return errors.New(r.Summary)
			}
			fmt.Fprintln(stdout, r.Summary)
			if len(r.Posted) > 0 {
				fmt.Fprintf(stdout, "posted to %s\n", strings.Join(r.Posted, ", "))
			}
			if len(r.Unposted) > 0 {
				fmt.Fprintf(stdout, "could not be posted to %s (see opsbot's log)\n", strings.Join(r.Unposted, ", "))
			}
			fmt.Fprint(stdout, "\n"+r.Body)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func reportsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reports", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	limit := fs.Int("limit", 20, "how many reports")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("reports takes only flags")
	}
	list, err := api().Reports(ctx, *limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHEN\tSTATE\tSUMMARY")
	for _, r := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.ID, r.CreatedAt.Local().Format(time.DateTime), r.State, oneLine(r.Summary, 100))
	}
	return tw.Flush()
}

func upgradeApplyCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upgrade "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	yes := fs.Bool("yes", false, "apply without asking")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	var id int64
	if len(pos) == 1 {
		id, err = strconv.ParseInt(pos[0], 10, 64)
	}
	if len(pos) != 1 || err != nil || id < 1 {
		return usageError("upgrade " + args[0] + " takes an id")
	}
	c := api()
	if args[0] == "apply" {
		p, err := c.Upgrade(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, p.Summary())
		fmt.Fprintf(stdout, "flake.lock %s\n", p.LockHash[:min(12, len(p.LockHash))])
		if !*yes {
			fmt.Fprintf(stdout, "Apply upgrade plan %d, one node at a time? [y/N] ", p.ID)
			line, _ := bufio.NewReader(stdin).ReadString('\n')
			if a := strings.TrimSpace(strings.ToLower(line)); a != "y" && a != "yes" {
				return errors.New("not approved; nothing was changed")
			}
		}
		a, err := c.ApplyUpgrade(ctx, id, handlers.ApplyRequest{LockHash: p.LockHash, Actor: actor()})
		if err != nil {
			return err
		}
		id = a.ID
	}
	if args[0] == "resume" {
		if _, err := c.ResumeUpgrade(ctx, id); err != nil {
			return err
		}
	}
	last := ""
	for {
		a, err := c.UpgradeStatus(ctx, id)
		if err != nil {
			return err
		}
		if p := a.Progress(); p != last {
			fmt.Fprintln(stdout, p)
			last = p
		}
		switch a.State {
		case upgrade.Done:
			return nil
		case upgrade.Applying:
		default:
			return fmt.Errorf("upgrade %d %s", a.ID, a.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// applier builds the rolling upgrade; nil without nodes or a cluster.
func applier(cfg *config.Config, plans *upgrade.Service, deploys *deploy.Service, st *store.Store, log *slog.Logger) *upgrade.Applier {
	if plans == nil || len(cfg.Upgrade.Nodes) == 0 || deploys.Kube == nil {
		return nil
	}
	a := &upgrade.Applier{Plans: st, Store: st, Deploys: deploys, Repo: deploys.Repo, Kube: deploys.Kube.Core,
		Snapshot: cfg.Upgrade.Snapshot, DrainTimeout: cfg.Upgrade.DrainTimeout, ReadyTimeout: cfg.Upgrade.ReadyTimeout,
		Poll: 2 * time.Second, WorkDir: filepath.Join(cfg.DataDir, "upgrades"), Log: log, Now: time.Now, OnFailure: cfg.Upgrade.OnFailure}
	for _, n := range cfg.Upgrade.Nodes {
		a.Nodes = append(a.Nodes, upgrade.Node{Name: n.Node, Target: n.Target})
	}
	return a
}
