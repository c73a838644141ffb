// Package client talks to a running opsbot's HTTP API, for the CLI and the
// benchmark.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/ops"
	"github.com/opsbot/opsbot/report"
	"github.com/opsbot/opsbot/upgrade"
)

// Client is an API client; Token may be empty for a server without tokens.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// APIError is an answer other than 2xx, with the server's sentence.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach opsbot at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e handlers.Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding the answer of %s: %w", path, err)
		}
	}
	return nil
}

// ListIncidents lists one page of incidents in a state (open, all, ...).
func (c *Client) ListIncidents(ctx context.Context, state string, limit int, before int64) (incidents.Page, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	var p incidents.Page
	err := c.do(ctx, http.MethodGet, "/api/v1/incidents?"+q.Encode(), nil, &p)
	return p, err
}

// Incident returns one incident with its alerts and timeline.
func (c *Client) Incident(ctx context.Context, id int64) (*incidents.Incident, error) {
	var inc incidents.Incident
	if err := c.do(ctx, http.MethodGet, "/api/v1/incidents/"+strconv.FormatInt(id, 10), nil, &inc); err != nil {
		return nil, err
	}
	return &inc, nil
}

// Command acts on an incident and returns the result.
func (c *Client) Command(ctx context.Context, id int64, verb incidents.Verb, req handlers.CommandRequest) (*handlers.CommandResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out handlers.CommandResponse
	err = c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/%s", id, verb), body, &out)
	return &out, err
}

// Post posts a raw body (a webhook) to path.
func (c *Client) Post(ctx context.Context, path string, body []byte) error {
	return c.do(ctx, http.MethodPost, path, body, nil)
}

// SendEvent posts a normalized event; with wait, it also waits for the
// incident engine and returns its outcome.
func (c *Client) SendEvent(ctx context.Context, ev *incidents.Event, wait bool) (map[string]any, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	path := "/api/v1/events"
	if wait {
		path += "?wait=true"
	}
	var out map[string]any
	err = c.do(ctx, http.MethodPost, path, body, &out)
	return out, err
}

// Notices lists recorded notices, newest first.
func (c *Client) Notices(ctx context.Context, source string, limit int) (incidents.NoticePage, error) {
	q := url.Values{}
	if source != "" {
		q.Set("source", source)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p incidents.NoticePage
	err := c.do(ctx, http.MethodGet, "/api/v1/notices?"+q.Encode(), nil, &p)
	return p, err
}

// StartWindow starts a maintenance window.
func (c *Client) StartWindow(ctx context.Context, req handlers.WindowRequest) (*incidents.Window, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var w incidents.Window
	err = c.do(ctx, http.MethodPost, "/api/v1/maintenance", body, &w)
	return &w, err
}

// Windows lists maintenance windows that end after now, or ended since.
func (c *Client) Windows(ctx context.Context, since string) ([]incidents.Window, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	var out struct {
		Windows []incidents.Window `json:"windows"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/maintenance?"+q.Encode(), nil, &out)
	return out.Windows, err
}

// EndWindow ends a maintenance window now.
func (c *Client) EndWindow(ctx context.Context, id int64) (*incidents.Window, error) {
	var w incidents.Window
	err := c.do(ctx, http.MethodDelete, "/api/v1/maintenance/"+strconv.FormatInt(id, 10), nil, &w)
	return &w, err
}

// Audit lists the audit log, newest first.
func (c *Client) Audit(ctx context.Context, limit int) ([]incidents.AuditEntry, error) {
	var out struct {
		Audit []incidents.AuditEntry `json:"audit"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?limit="+strconv.Itoa(max(limit, 1)), nil, &out)
	return out.Audit, err
}

// Status is opsbot at a glance: a sentence, and the figures behind it.
func (c *Client) Status(ctx context.Context) (string, *ops.Status, error) {
	var out struct {
		Message string      `json:"message"`
		Status  *ops.Status `json:"status"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &out)
	return out.Message, out.Status, err
}

// Plan asks for a deploy or rollback plan.
func (c *Client) Plan(ctx context.Context, req handlers.PlanRequest) (*deploy.Plan, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var p deploy.Plan
	err = c.do(ctx, http.MethodPost, "/api/v1/deploys", body, &p)
	return &p, err
}

// Approve approves a plan and returns the run it started.
func (c *Client) Approve(ctx context.Context, plan int64, req handlers.ApproveRequest) (*deploy.Run, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var r deploy.Run
	err = c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/deploys/plans/%d/approve", plan), body, &r)
	return &r, err
}

// Runs lists deploy runs, of one target or all, newest first.
func (c *Client) Runs(ctx context.Context, target string, limit int) ([]deploy.Run, error) {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	q.Set("limit", strconv.Itoa(max(limit, 1)))
	var out struct {
		Runs []deploy.Run `json:"runs"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/deploys?"+q.Encode(), nil, &out)
	return out.Runs, err
}

// Run returns a run with its output so far.
func (c *Client) Run(ctx context.Context, id int64) (*deploy.Run, error) {
	var r deploy.Run
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/deploys/%d", id), nil, &r)
	return &r, err
}

// UpgradePlan starts an upgrade plan; it is being made when this returns.
func (c *Client) UpgradePlan(ctx context.Context, req handlers.UpgradePlanRequest) (*upgrade.Plan, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var p upgrade.Plan
	err = c.do(ctx, http.MethodPost, "/api/v1/upgrades/plans", body, &p)
	return &p, err
}

// Upgrade returns an upgrade plan.
func (c *Client) Upgrade(ctx context.Context, id int64) (*upgrade.Plan, error) {
	var p upgrade.Plan
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/upgrades/plans/%d", id), nil, &p)
	return &p, err
}

// StartReport starts the upgrade report.
func (c *Client) StartReport(ctx context.Context) (*report.Report, error) {
	var r report.Report
	err := c.do(ctx, http.MethodPost, "/api/v1/reports/upgrade", nil, &r)
	return &r, err
}

// Reports lists reports, newest first.
func (c *Client) Reports(ctx context.Context, limit int) ([]report.Report, error) {
	var out struct {
		Reports []report.Report `json:"reports"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/reports?limit="+strconv.Itoa(max(limit, 1)), nil, &out)
	return out.Reports, err
}

// Report returns a report.
func (c *Client) Report(ctx context.Context, id int64) (*report.Report, error) {
	var r report.Report
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/reports/%d", id), nil, &r)
	return &r, err
}

// ApplyUpgrade starts applying an upgrade plan whose lock hash the
// caller saw.
func (c *Client) ApplyUpgrade(ctx context.Context, plan int64, req handlers.ApplyRequest) (*upgrade.Apply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var a upgrade.Apply
	err = c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/upgrades/plans/%d/apply", plan), body, &a)
	return &a, err
}

// UpgradeStatus returns a rolling upgrade's progress.
func (c *Client) UpgradeStatus(ctx context.Context, id int64) (*upgrade.Apply, error) {
	var a upgrade.Apply
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/upgrades/%d", id), nil, &a)
	return &a, err
}

// ResumeUpgrade goes on with an interrupted upgrade.
func (c *Client) ResumeUpgrade(ctx context.Context, id int64) (*upgrade.Apply, error) {
	var a upgrade.Apply
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/upgrades/%d/resume", id), nil, &a)
	return &a, err
}
