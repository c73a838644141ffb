package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opsbot/opsbot/handlers"
)

const maintenanceUsage = `usage: opsbot maintenance <action> [flags]

  start MATCHER... --for DURATION [--comment TEXT]   MATCHER: name=value or name=~regex,
                                                    on labels, source and severity
  list [--since 24h]
  end ID

flags for every action: --server URL, --json
`

func maintenanceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, maintenanceUsage)
		return usageError("maintenance needs an action")
	}
	action := args[0]
	fs := flag.NewFlagSet("maintenance "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	dur := fs.Duration("for", 0, "start: how long the window lasts")
	comment := fs.String("comment", "", "start: why")
	since := fs.String("since", "", "list: also windows that ended this long ago")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c := api()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch action {
	case "start":
		if len(pos) == 0 || *dur <= 0 {
			return usageError("usage: opsbot maintenance start MATCHER... --for DURATION")
		}
		w, err := c.StartWindow(ctx, handlers.WindowRequest{Matchers: pos, Duration: dur.String(), Comment: *comment, Actor: actor()})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, w)
		}
		fmt.Fprintf(stdout, "maintenance window #%d holds notifications for %s until %s\n", w.ID, strings.Join(w.Matchers, ", "), w.EndsAt.Local().Format(time.DateTime))
	case "list":
		list, err := c.Windows(ctx, *since)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no maintenance windows")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUNTIL\tBY\tMATCHERS\tCOMMENT")
		for _, w := range list {
			fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\n", w.ID, w.EndsAt.Local().Format(time.DateTime), w.CreatedBy, strings.Join(w.Matchers, ", "), oneLine(w.Comment, 40))
		}
		return tw.Flush()
	case "end":
		if len(pos) != 1 {
			return usageError("usage: opsbot maintenance end ID")
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(pos[0], "#"), 10, 64)
		if err != nil {
			return usageError(fmt.Sprintf("%q is not a window id", pos[0]))
		}
		w, err := c.EndWindow(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "maintenance window #%d ended; what it held and is still open is notified now\n", w.ID)
	default:
		return usageError(fmt.Sprintf("unknown maintenance action %q\n\n%s", action, maintenanceUsage))
	}
	return nil
}
