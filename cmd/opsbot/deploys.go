package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/store"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// deployService builds the deploy service from the configuration; nil if
// deploys are off.
func deployService(cfg *config.Config, st *store.Store, alerts deploy.Alerts, pub commandPublisher, log *slog.Logger) (*deploy.Service, error) {
	if cfg.Repo.URL == "" {
		return nil, nil
	}
	repo := &deploy.Repo{URL: cfg.Repo.URL, Branch: cfg.Repo.Branch, Dir: filepath.Join(cfg.DataDir, "repo"), Timeout: cfg.Repo.Timeout,
		RequireSigned: cfg.Repo.RequireSigned, AllowedSigners: cfg.Repo.AllowedSignersFile}
	secrets := cfg.Secrets()
	if f := cfg.Repo.CredentialsFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("repo.credentials_file: %w", err)
		}
		cred := strings.TrimSpace(string(b))
		header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
		// Through the environment, so it shows in no process list.
		repo.Env = append(repo.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0="+header)
		secrets = append(secrets, cred, base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	if f := cfg.Repo.SSHKeyFile; f != "" {
		repo.Env = append(repo.Env, "GIT_SSH_COMMAND=ssh -i '"+f+"' -o IdentitiesOnly=yes -o BatchMode=yes")
	}
	svc := &deploy.Service{
		Repo: repo, Targets: map[string]*deploy.Target{}, Store: st, Windows: st, HTTP: &http.Client{Timeout: 15 * time.Second},
		WorkDir: filepath.Join(cfg.DataDir, "runs"), Scrub: deploy.NewScrubber(secrets...), GlobalLock: cfg.Deploy.GlobalLock,
		PlanTTL: cfg.Deploy.PlanTTL, OutputLimit: cfg.Deploy.OutputLimitBytes, Log: log, Now: time.Now,
		Note: func(ctx context.Context, labels map[string]string, text string) {
			noteIncidents(ctx, st, pub, labels, text, log)
		},
	}
	if alerts != nil {
		svc.Alerts = alerts
	}
	kube, err := kubeClients(cfg.Kube)
	if err != nil {
		return nil, err
	}
	svc.Kube = kube
	for _, t := range cfg.Deploy.Targets {
		tg, err := deployTarget(cfg, t)
		if err != nil {
			return nil, err
		}
		svc.Targets[t.Name] = tg
	}
	svc.Groups = cfg.Deploy.Groups
	if ft := cfg.Deploy.FlakeTargets; ft.Driver != "" {
		ft.Name = "flake_targets"
		tg, err := deployTarget(cfg, ft)
		if err != nil {
			return nil, err
		}
		svc.FlakeTargets = tg
	}
	return svc, nil
}

func deployTarget(cfg *config.Config, t config.DeployTarget) (*deploy.Target, error) {
	d, ok := deploy.Presets[t.Driver]
	switch t.Driver {
	case "command":
		d, ok = deploy.Driver{Name: "command", Deploy: t.Command, Rollback: t.RollbackCommand}, true
	case "argocd":
		d, ok = deploy.Driver{Name: "argocd", Kind: deploy.DriverArgoCD, Object: t.Application}, true
	case "flux":
		d, ok = deploy.Driver{Name: "flux", Kind: deploy.DriverFlux, Object: t.Kustomization, Resource: "kustomization"}, true
		if t.HelmRelease != "" {
			d.Object, d.Resource = t.HelmRelease, "helmrelease"
		}
	}
	if !ok {
		return nil, fmt.Errorf("deploy.targets %s: unknown driver %q", t.Name, t.Driver)
	}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("deploy.targets %s: %w", t.Name, err)
	}
	tg := &deploy.Target{Name: t.Name, Host: t.Host, SSH: t.SSH, Driver: d, Labels: t.Labels, Timeout: t.Timeout,
		AutoRollback: t.AutoRollback, SecondApproval: t.SecondApproval, Revert: t.Rollback == "revert",
		Gate: deploy.Gate{Duration: t.Gate.Duration, Interval: t.Gate.Interval, AlertMatchers: t.Gate.AlertMatchers, HTTP: t.Gate.HTTP,
			Nodes: t.Gate.KubeNodes}}
	if tg.Host == "" {
		tg.Host = t.Name
	}
	if tg.Timeout == 0 {
		tg.Timeout = cfg.Deploy.Timeout
	}
	return tg, nil
}

// noteIncidents puts a line on the timeline of each open incident whose
// labels include labels.
func noteIncidents(ctx context.Context, st *store.Store, pub commandPublisher, labels map[string]string, text string, log *slog.Logger) {
	page, err := st.ListIncidents(ctx, incidents.Filter{States: []incidents.State{incidents.Triggered, incidents.Acknowledged}, Limit: 500})
	if err != nil {
		log.Error("deploy: note on incidents", "err", err)
		return
	}
	for _, inc := range page.Incidents {
		match := true
		for k, v := range labels {
			match = match && inc.Labels[k] == v
		}
		if !match {
			continue
		}
		c := &incidents.Command{ID: newID(), IncidentID: inc.ID, Verb: incidents.Comment, Actor: "opsbot deploy", Origin: "deploy", Text: text}
		if err := pub.PublishCommand(ctx, c); err != nil {
			log.Error("deploy: note on incident", "incident", inc.ID, "err", err)
		}
	}
}

// kubeClients connects to the configured cluster; nil without one.
func kubeClients(k config.KubeConfig) (*deploy.Kube, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case k.Kubeconfig != "":
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: k.Kubeconfig}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.Context}).ClientConfig()
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		rc, err = rest.InClusterConfig()
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	core, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	return &deploy.Kube{Dynamic: dyn, Core: core, Poll: k.Poll}, nil
}
