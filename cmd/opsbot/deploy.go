package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbot/opsbot/client"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/handlers"
)

// deployCmd is "opsbot deploy TARGET [REV]" and "opsbot rollback TARGET
// [REV]": the plan, a confirmation, then the run followed to its end.
func deployCmd(ctx context.Context, kind string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	yes := fs.Bool("yes", false, "approve without asking")
	force := fs.Bool("force", false, "approve even if the branch history was rewritten (force-pushed)")
	follow := fs.Bool("follow", true, "follow the run's output to its end")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError(kind + " takes a target and, optionally, a revision")
	}
	req := handlers.PlanRequest{Kind: kind, Target: pos[0], Actor: actor()}
	if len(pos) == 2 {
		req.Rev = pos[1]
	}
	c := api()
	p, err := c.Plan(ctx, req)
	if err != nil {
		return err
	}
	from := "(nothing deployed by opsbot yet)"
	if p.From != "" {
		from = p.From[:12]
	}
	fmt.Fprintf(stdout, "plan %d: %s %s from %s to %s\n", p.ID, p.Kind, p.Target, from, p.To[:12])
	for _, l := range p.Commits {
		fmt.Fprintln(stdout, "  "+l)
	}
	if p.Rewritten {
		fmt.Fprintf(stdout, "warning: the branch history was rewritten (force-pushed) since opsbot last saw it\n")
	}
	if p.SecondApproval {
		fmt.Fprintf(stdout, "%s needs a second person's approval: opsbot deploy-approve %d, by someone else\n", p.Target, p.ID)
		return nil
	}
	if !*yes {
		fmt.Fprintf(stdout, "%s %s to %s? [y/N] ", strings.ToUpper(kind[:1])+kind[1:], p.Target, p.To[:12])
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.TrimSpace(strings.ToLower(line)); a != "y" && a != "yes" {
			return errors.New("not approved; nothing was run")
		}
	}
	return approve(ctx, c, p.ID, *force, *follow, stdout)
}

// deployApproveCmd is "opsbot deploy-approve PLAN": someone's approval of
// a plan that needs a second person.
func deployApproveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy-approve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	force := fs.Bool("force", false, "approve even if the branch history was rewritten (force-pushed)")
	follow := fs.Bool("follow", true, "follow the run's output to its end")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	var id int64
	if len(pos) == 1 {
		id, err = strconv.ParseInt(pos[0], 10, 64)
	}
	if len(pos) != 1 || err != nil || id < 1 {
		return usageError("deploy-approve takes a plan id")
	}
	return approve(ctx, api(), id, *force, *follow, stdout)
}

func approve(ctx context.Context, c *client.Client, plan int64, force, follow bool, stdout io.Writer) error {
	r, err := c.Approve(ctx, plan, handlers.ApproveRequest{Force: force, Actor: actor()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run #%d: %s of %s to %s started\n", r.ID, r.Kind, r.Target, r.To[:12])
	if !follow {
		return nil
	}
	return followRun(ctx, c, r.ID, stdout)
}

// followRun prints a run's output as it comes, and its end; it fails if
// the run did not succeed, following an automatic rollback first.
func followRun(ctx context.Context, c *client.Client, id int64, stdout io.Writer) error {
	printed, phase := 0, ""
	for {
		r, err := c.Run(ctx, id)
		if err != nil {
			return err
		}
		if r.Phase != phase && r.State == deploy.Running {
			phase = r.Phase
			fmt.Fprintf(stdout, "--- %s\n", phase)
		}
		if len(r.Output) > printed {
			fmt.Fprint(stdout, r.Output[printed:])
			printed = len(r.Output)
		} else if len(r.Output) < printed { // the front was cut
			printed = len(r.Output)
		}
		if r.State != deploy.Running {
			fmt.Fprintf(stdout, "run #%d %s: %s\n", r.ID, r.State, r.Outcome)
			switch r.State {
			case deploy.Succeeded:
				return nil
			case deploy.RolledBack:
				if next, err := rollbackOf(ctx, c, r); err == nil && next != 0 {
					fmt.Fprintf(stdout, "following the automatic rollback, run #%d\n", next)
					followRun(ctx, c, next, stdout)
				}
			}
			return fmt.Errorf("run #%d %s", r.ID, r.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// rollbackOf finds the automatic rollback of a run.
func rollbackOf(ctx context.Context, c *client.Client, r *deploy.Run) (int64, error) {
	runs, err := c.Runs(ctx, r.Target, 20)
	if err != nil {
		return 0, err
	}
	for _, x := range runs {
		if x.ParentID == r.ID {
			return x.ID, nil
		}
	}
	return 0, nil
}

func deploysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	limit := fs.Int("limit", 20, "how many runs")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("deploys takes at most a target")
	}
	target := ""
	if len(pos) == 1 {
		target = pos[0]
	}
	runs, err := api().Runs(ctx, target, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, runs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tAGE\tTARGET\tKIND\tTO\tSTATE\tBY\tOUTCOME")
	for _, r := range runs {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, age(r.StartedAt), r.Target, r.Kind, r.To[:min(12, len(r.To))], r.State, r.Actor, oneLine(r.Outcome, 60))
	}
	return tw.Flush()
}

func deployLogCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	follow := fs.Bool("follow", false, "follow a running run to its end")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	var id int64
	if len(pos) == 1 {
		id, err = strconv.ParseInt(strings.TrimPrefix(pos[0], "#"), 10, 64)
	}
	if len(pos) != 1 || err != nil || id < 1 {
		return usageError("deploy-log takes a run id")
	}
	c := api()
	r, err := c.Run(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run #%d: %s of %s from %s to %s by %s (approved by %s), %s\n", r.ID, r.Kind, r.Target,
		orDash(r.From), r.To, r.Actor, orDash(r.ApprovedBy), r.State)
	if *follow && r.State == deploy.Running {
		return followRun(ctx, c, id, stdout)
	}
	fmt.Fprint(stdout, r.Output)
	if r.Outcome != "" {
		fmt.Fprintln(stdout, "outcome:", r.Outcome)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
