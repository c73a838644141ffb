// Package silences creates and expires Alertmanager silences through its
// API v2 client, for the incidents whose alerts people silence at the source.
package silences

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/opsbot/opsbot/incidents"
)

// Client talks to one Alertmanager.
type Client struct {
	api *client.AlertmanagerAPI
}

// New makes a client for the Alertmanager at base (http://host:9093),
// with a bearer token if one is given.
func New(base, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager: %q is not an http(s) URL", base)
	}
	rt := httptransport.NewWithClient(u.Host, path.Join("/", u.Path, "api/v2"), []string{u.Scheme}, hc)
	if token != "" {
		rt.DefaultAuthentication = httptransport.BearerToken(token)
	}
	return &Client{api: client.New(rt, strfmt.Default)}, nil
}

// Matchers are the labels every alert of an incident has, with the same
// value: a silence of them silences the incident's alerts and, as a rule,
// nothing else. An incident whose alerts share no label has none.
func Matchers(inc *incidents.Incident) (map[string]string, error) {
	var common map[string]string
	for _, a := range inc.Alerts {
		if common == nil {
			common = map[string]string{}
			for k, v := range a.Labels {
				common[k] = v
			}
			continue
		}
		for k, v := range common {
			if a.Labels[k] != v {
				delete(common, k)
			}
		}
	}
	if len(common) == 0 {
		return nil, fmt.Errorf("incident #%d's alerts share no label to silence them by; silence them one by one in Alertmanager", inc.ID)
	}
	return common, nil
}

// Silence creates a silence of the labels until end and returns its id.
func (c *Client) Silence(ctx context.Context, labels map[string]string, start, end time.Time, createdBy, comment string) (string, error) {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var matchers models.Matchers
	for _, k := range names {
		name, value, isRegex, isEqual := k, labels[k], false, true
		matchers = append(matchers, &models.Matcher{Name: &name, Value: &value, IsRegex: &isRegex, IsEqual: &isEqual})
	}
	startsAt, endsAt := strfmt.DateTime(start), strfmt.DateTime(end)
	params := silence.NewPostSilencesParamsWithContext(ctx).WithSilence(&models.PostableSilence{Silence: models.Silence{
		Matchers: matchers, StartsAt: &startsAt, EndsAt: &endsAt, CreatedBy: &createdBy, Comment: &comment,
	}})
	ok, err := c.api.Silence.PostSilences(params)
	if err != nil {
		return "", fmt.Errorf("alertmanager: create silence: %w", err)
	}
	if ok.Payload == nil || ok.Payload.SilenceID == "" {
		return "", errors.New("alertmanager: no silence id in the answer")
	}
	return ok.Payload.SilenceID, nil
}

// Expire ends a silence now.
func (c *Client) Expire(ctx context.Context, id string) error {
	params := silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(strfmt.UUID(id))
	if _, err := c.api.Silence.DeleteSilence(params); err != nil {
		return fmt.Errorf("alertmanager: expire silence %s: %w", id, err)
	}
	return nil
}

// Firing lists the active alerts (not silenced, not inhibited) that match
// matchers (host="web", host=~"web.*") and started after since, one line
// each: the alert's name and labels.
func (c *Client) Firing(ctx context.Context, matchers []string, since time.Time) ([]string, error) {
	active, silenced, inhibited := true, false, false
	params := alert.NewGetAlertsParamsWithContext(ctx).WithFilter(matchers).WithActive(&active).
		WithSilenced(&silenced).WithInhibited(&inhibited)
	ok, err := c.api.Alert.GetAlerts(params)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: alerts: %w", err)
	}
	var out []string
	for _, a := range ok.Payload {
		if a.StartsAt == nil || time.Time(*a.StartsAt).Before(since) {
			continue
		}
		names := make([]string, 0, len(a.Labels))
		for k, v := range a.Labels {
			if k != "alertname" {
				names = append(names, k+"="+v)
			}
		}
		sort.Strings(names)
		out = append(out, fmt.Sprintf("%s{%s}", a.Labels["alertname"], strings.Join(names, ",")))
	}
	sort.Strings(out)
	return out, nil
}
