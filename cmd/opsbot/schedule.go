package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/driftcheck"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/versioncheck"
)

// cronLog lets robfig/cron log through slog.
type cronLog struct{ log *slog.Logger }

func (l cronLog) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLog) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// startChecks schedules the enabled checks, runs each once now, and returns
// a function that stops them and waits for running ones.
func startChecks(ctx context.Context, cfg *config.Config, pub driftcheck.Publisher, log *slog.Logger) (stop func(), err error) {
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLogger(cronLog{log}))
	chain := cron.NewChain(cron.Recover(cronLog{log}), cron.SkipIfStillRunning(cronLog{log}))
	var first []cron.Job
	if d := cfg.Checks.Drift; d.Enabled {
		hosts := make([]driftcheck.Host, len(d.Hosts))
		for i, h := range d.Hosts {
			hosts[i] = driftcheck.Host{Name: h.Name, Revision: h.Revision}
		}
		checker := &driftcheck.Checker{
			Repo: d.Repo, Branch: d.Branch, Dir: filepath.Join(cfg.DataDir, "drift-repo"), Hosts: hosts,
			Timeout: d.Timeout, Severity: incidents.Severity(d.Severity), Labels: d.Labels, Publisher: pub, Log: log, Now: time.Now,
		}
		job := chain.Then(cron.FuncJob(func() {
			if err := checker.Check(ctx); err != nil {
				log.Error("drift check failed", "err", err)
			}
		}))
		if _, err := c.AddJob(d.Schedule, job); err != nil {
			return nil, err
		}
		first = append(first, job)
		log.Info("drift check scheduled", "schedule", d.Schedule, "hosts", len(hosts), "repo", d.Repo, "branch", d.Branch)
	}
	if v := cfg.Checks.VersionChecker; v.Enabled {
		scraper := &versioncheck.Scraper{
			URL: v.URL, Client: &http.Client{Timeout: v.Timeout}, Severity: incidents.Severity(v.Severity),
			Labels: v.Labels, Publisher: pub, Log: log, Now: time.Now,
		}
		job := chain.Then(cron.FuncJob(func() {
			if err := scraper.Check(ctx); err != nil {
				log.Error("version-checker scrape failed", "err", err)
			}
		}))
		if _, err := c.AddJob(v.Schedule, job); err != nil {
			return nil, err
		}
		first = append(first, job)
		log.Info("version-checker scrape scheduled", "schedule", v.Schedule, "url", v.URL)
	}
	c.Start()
	for _, j := range first {
		go j.Run()
	}
	return func() {
		select {
		case <-c.Stop().Done():
		case <-time.After(30 * time.Second):
			log.Warn("checks still running after 30s; stopping anyway")
		}
	}, nil
}
