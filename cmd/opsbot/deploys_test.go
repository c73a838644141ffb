package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
)

// TestDeployTargets: the configuration's targets become the deploy
// package's, driver by driver, and a kubeconfig a cluster's clients.
func TestDeployTargets(t *testing.T) {
	cfg := config.Default()
	for _, c := range []struct {
		in   config.DeployTarget
		want deploy.Driver
	}{
		{config.DeployTarget{Name: "web", Driver: "argocd", Application: "argocd/web"}, deploy.Driver{Name: "argocd", Kind: deploy.DriverArgoCD, Object: "argocd/web"}},
		{config.DeployTarget{Name: "apps", Driver: "flux", Kustomization: "flux-system/apps"}, deploy.Driver{Name: "flux", Kind: deploy.DriverFlux, Object: "flux-system/apps", Resource: "kustomization"}},
		{config.DeployTarget{Name: "db", Driver: "flux", HelmRelease: "db/postgres"}, deploy.Driver{Name: "flux", Kind: deploy.DriverFlux, Object: "db/postgres", Resource: "helmrelease"}},
	} {
		tg, err := deployTarget(&cfg, c.in)
		if err != nil || tg.Driver.Kind != c.want.Kind || tg.Driver.Object != c.want.Object || tg.Driver.Resource != c.want.Resource ||
			tg.Timeout != cfg.Deploy.Timeout || tg.Host != c.in.Name {
			t.Errorf("%+v: %+v %v", c.in, tg, err)
		}
	}
	if _, err := deployTarget(&cfg, config.DeployTarget{Name: "x", Driver: "command", Command: []string{"deploy", "{secret}"}}); err == nil {
		t.Error("an unknown placeholder was taken")
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:6443\"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"), 0o600)
	k, err := kubeClients(config.KubeConfig{Kubeconfig: kc, Poll: time.Second})
	if err != nil || k == nil || k.Dynamic == nil || k.Core == nil || k.Poll != time.Second {
		t.Fatalf("%+v %v", k, err)
	}
	if k, err := kubeClients(config.KubeConfig{}); k != nil || err != nil {
		t.Fatalf("no cluster: %+v %v", k, err)
	}
}
