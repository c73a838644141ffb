package ops

import (
	"context"
	"errors"

	"github.com/opsbot/opsbot/report"
)

// Reporter makes and keeps reports.
type Reporter interface {
	Start(ctx context.Context, by string) (*report.Report, error)
}

// ReportStore reads reports.
type ReportStore interface {
	Report(ctx context.Context, id int64) (*report.Report, error)
	Reports(ctx context.Context, limit int) ([]report.Report, error)
}

func reportCommands() map[string]command {
	return map[string]command{
		"report now":  {audit: "report now", perm: Operate, run: (*Service).reportNow},
		"reports":     {audit: "reports", perm: Read, run: (*Service).reportList},
		"report show": {audit: "report show", perm: Read, run: (*Service).reportShow},
	}
}

func (s *Service) reportNow(ctx context.Context, c *Caller, _ *Request) Reply {
	if s.Reporter == nil {
		return fail(NotConfigured, "the upgrade report is off: configure upgrade.hosts")
	}
	r, err := s.Reporter.Start(ctx, c.Actor)
	if errors.Is(err, report.ErrBusy) {
		return fail(Conflict, "a report is being made already; it will be posted when it is done")
	}
	if err != nil {
		return s.internal("report", err)
	}
	return Reply{Kind: Created, Report: r, Message: "upgrade report " + itoa(r.ID) + " is being made; it is posted when it is done"}
}

func (s *Service) reportList(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Reports == nil {
		return fail(NotConfigured, "no reports are kept here")
	}
	list, err := s.Reports.Reports(ctx, r.Limit)
	if err != nil {
		return s.internal("reports", err)
	}
	return Reply{ReportList: list, Message: itoa(int64(len(list))) + " reports"}
}

func (s *Service) reportShow(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Reports == nil {
		return fail(NotConfigured, "no reports are kept here")
	}
	rep, err := s.Reports.Report(ctx, r.Run)
	if errors.Is(err, report.ErrNoReport) {
		return fail(NotFound, "report %d does not exist", r.Run)
	}
	if err != nil {
		return s.internal("report", err)
	}
	return Reply{Report: rep, Message: rep.Summary}
}
