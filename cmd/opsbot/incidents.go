package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/incidents"
)

const incidentsUsage = `usage: opsbot incidents <action> [flags]

  list [--state open|triggered|acknowledged|resolved|all] [--limit N]
  show ID
  ack ID [--note TEXT]
  unack ID
  resolve ID [--note TEXT]
  snooze ID DURATION [--note TEXT]
  comment ID TEXT
  silence ID DURATION [--note TEXT]   silence the incident's alerts in Alertmanager
  unsilence ID

flags for every action: --server URL (default http://127.0.0.1:8080), --json
The token is read from OPSBOT_TOKEN; the actor is OPSBOT_ACTOR or your user name.
`

func incidentsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, incidentsUsage)
		if len(args) == 0 {
			return usageError("incidents needs an action")
		}
		return nil
	}
	action := args[0]
	fs := flag.NewFlagSet("incidents "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	state := fs.String("state", "open", "list: open, triggered, acknowledged, resolved or all")
	limit := fs.Int("limit", 50, "list: how many incidents")
	note := fs.String("note", "", "a note for the timeline")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c := api()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if action == "list" {
		if len(pos) != 0 {
			return usageError("incidents list takes no arguments")
		}
		p, err := c.ListIncidents(ctx, *state, *limit, 0)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, p)
		}
		printList(stdout, p.Incidents)
		return nil
	}

	want := map[string]int{"show": 1, "ack": 1, "unack": 1, "resolve": 1, "snooze": 2, "comment": 2, "silence": 2, "unsilence": 1}
	n, ok := want[action]
	if !ok {
		return usageError(fmt.Sprintf("unknown incidents action %q\n\n%s", action, incidentsUsage))
	}
	if len(pos) < n || (action != "comment" && len(pos) > n) {
		return usageError(fmt.Sprintf("usage: %s", usageLine(action)))
	}
	id, err := parseIncidentID(pos[0])
	if err != nil {
		return err
	}
	if action == "show" {
		inc, err := c.Incident(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, inc)
		}
		printIncident(stdout, inc)
		return nil
	}
	req := handlers.CommandRequest{Actor: actor(), Text: *note}
	verb := incidents.Verb(action)
	switch action {
	case "snooze", "silence":
		req.Duration = pos[1]
	case "comment":
		req.Text = strings.Join(pos[1:], " ")
	}
	resp, err := c.Command(ctx, id, verb, req)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, resp)
	}
	if resp.Incident == nil {
		fmt.Fprintf(stdout, "incident #%d: %s stored; it will be applied shortly\n", id, action)
		return nil
	}
	fmt.Fprintf(stdout, "incident #%d %s: now %s\n", id, resp.Outcome, resp.Incident.State)
	return nil
}

func usageLine(action string) string {
	for _, l := range strings.Split(incidentsUsage, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), action+" ") {
			return "opsbot incidents " + strings.TrimSpace(l)
		}
	}
	return incidentsUsage
}

func parseIncidentID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id < 1 {
		return 0, usageError(fmt.Sprintf("%q is not an incident id (a number, as in 42 or #42)", s))
	}
	return id, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func actor() string {
	if a := os.Getenv("OPSBOT_ACTOR"); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "cli"
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func age(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func printList(w io.Writer, list []incidents.Incident) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no incidents")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tAGE\tFIRING\tTITLE")
	for _, i := range list {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%d\t%s\n", i.ID, i.State, i.Severity, age(i.CreatedAt), i.FiringAlerts, oneLine(i.Title, 70))
	}
	tw.Flush()
}

func printIncident(w io.Writer, i *incidents.Incident) {
	fmt.Fprintf(w, "#%d %s\n", i.ID, i.Title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "state:\t%s\n", i.State)
	fmt.Fprintf(tw, "severity:\t%s\n", i.Severity)
	fmt.Fprintf(tw, "source:\t%s\n", i.Source)
	fmt.Fprintf(tw, "group:\t%s\n", i.GroupKey)
	fmt.Fprintf(tw, "opened:\t%s (%s ago)\n", i.CreatedAt.Local().Format(time.DateTime), age(i.CreatedAt))
	if i.AcknowledgedBy != "" {
		fmt.Fprintf(tw, "acknowledged by:\t%s\n", i.AcknowledgedBy)
	}
	if i.SnoozedUntil != nil {
		fmt.Fprintf(tw, "snoozed until:\t%s\n", i.SnoozedUntil.Local().Format(time.DateTime))
	}
	if i.ResolvedAt != nil {
		fmt.Fprintf(tw, "resolved:\t%s\n", i.ResolvedAt.Local().Format(time.DateTime))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nalerts (%d firing of %d):\n", i.FiringAlerts, len(i.Alerts))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range i.Alerts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\tsince %s\n", a.Status, a.Severity, oneLine(a.Summary, 60), a.StartsAt.Local().Format(time.DateTime))
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntimeline:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range i.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Kind, e.Actor, oneLine(e.Detail, 60))
	}
	tw.Flush()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func noticesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("notices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	source := fs.String("source", "", "only this source's")
	limit := fs.Int("limit", 50, "how many")
	asJSON := fs.Bool("json", false, "print JSON")
	if args = append([]string{}, args...); len(args) > 0 && args[0] == "list" {
		args = args[1:]
	}
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("notices takes only flags")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := api().Notices(ctx, *source, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, p)
	}
	if len(p.Notices) == 0 {
		fmt.Fprintln(stdout, "no notices")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSOURCE\tSUMMARY")
	for _, n := range p.Notices {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", n.ID, age(n.At), n.Source, oneLine(n.Summary, 80))
	}
	return tw.Flush()
}

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	limit := fs.Int("limit", 50, "how many entries")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("audit takes only flags")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := api().Audit(ctx, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tWHO\tVIA\tCOMMAND\tTARGET\tALLOWED\tRESULT")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", e.At.Local().Format(time.DateTime), e.Actor, e.Via, e.Command, e.Target, e.Allowed, oneLine(e.Result, 60))
	}
	return tw.Flush()
}

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("status takes only flags")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msg, st, err := api().Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, st)
	}
	fmt.Fprintln(stdout, msg)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, a := range st.Recent {
		fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\n", age(a.At), a.IncidentID, a.Kind, oneLine(a.Title, 60))
	}
	return tw.Flush()
}
