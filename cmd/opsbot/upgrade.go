package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/store"
	"github.com/opsbot/opsbot/upgrade"
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

// upgradeCmd is "opsbot upgrade plan [INPUT...]" and "opsbot upgrade show PLAN".
func upgradeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "plan" && args[0] != "show") {
		return usageError("upgrade plan [INPUT...] | upgrade show PLAN")
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
