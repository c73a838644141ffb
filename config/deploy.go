package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// RepoConfig is the declarative repo deploys come from.
type RepoConfig struct {
	// URL is a local path or a git URL; empty: deploys are off.
	URL    string `yaml:"url"`
	Branch string `yaml:"branch"`
	// CredentialsFile holds "user:token" for an https URL.
	CredentialsFile string `yaml:"credentials_file"`
	// SSHKeyFile is the key for an ssh URL.
	SSHKeyFile string        `yaml:"ssh_key_file"`
	Timeout    time.Duration `yaml:"timeout"`
	// RequireSigned deploys only signed commits: ssh signatures by a key
	// in AllowedSignersFile, or GPG signatures by a key in the keyring.
	RequireSigned      bool   `yaml:"require_signed"`
	AllowedSignersFile string `yaml:"allowed_signers_file"`
}

// DeployConfig is how targets are deployed.
type DeployConfig struct {
	// GlobalLock allows one run at a time across all targets.
	GlobalLock bool `yaml:"global_lock"`
	// PlanTTL is how long a plan waits for its approval.
	PlanTTL time.Duration `yaml:"plan_ttl"`
	// OutputLimitBytes caps the output kept of a run (its tail).
	OutputLimitBytes int `yaml:"output_limit_bytes"`
	// Timeout is a run's default limit.
	Timeout time.Duration  `yaml:"timeout"`
	Targets []DeployTarget `yaml:"targets"`
	// Groups name lists of targets deployed one after the other, each
	// once the one before passed its gate; the first failure stops the
	// rest.
	Groups map[string][]string `yaml:"groups"`
	// FlakeTargets, with a driver, makes a target of each of the flake's
	// nixosConfigurations (read with nix eval), like this one; {host} in
	// ssh and in label values is the name. Targets configured by name win.
	FlakeTargets DeployTarget `yaml:"flake_targets"`
}

// DeployTarget is one target.
type DeployTarget struct {
	Name string `yaml:"name"`
	// Host fills {host}; the name if empty.
	Host string `yaml:"host"`
	// Driver: nixos-rebuild, nixos-rebuild-generations, nix-run, command,
	// argocd or flux.
	Driver string `yaml:"driver"`
	// Application is the Argo CD Application (namespace/name) of the
	// argocd driver; Kustomization or HelmRelease the Flux object of the
	// flux driver.
	Application   string `yaml:"application"`
	Kustomization string `yaml:"kustomization"`
	HelmRelease   string `yaml:"helmrelease"`
	// Command and RollbackCommand are the argument vectors of the command
	// driver.
	Command         []string          `yaml:"command"`
	RollbackCommand []string          `yaml:"rollback_command"`
	SSH             string            `yaml:"ssh"`
	Labels          map[string]string `yaml:"labels"`
	Timeout         time.Duration     `yaml:"timeout"`
	AutoRollback    bool              `yaml:"auto_rollback"`
	SecondApproval  bool              `yaml:"second_approval"`
	// Rollback is how a rollback happens: redeploy (the earlier revision,
	// the default) or revert (a revert commit pushed to the branch, then
	// deployed: for GitOps targets).
	Rollback string     `yaml:"rollback"`
	Gate     GateConfig `yaml:"gate"`
}

// GateConfig is the health gate after a deploy.
type GateConfig struct {
	Duration      time.Duration `yaml:"duration"`
	Interval      time.Duration `yaml:"interval"`
	AlertMatchers []string      `yaml:"alert_matchers"`
	HTTP          []string      `yaml:"http"`
	// KubeNodes must be Ready (needs kube).
	KubeNodes []string `yaml:"kube_nodes"`
}

// KubeConfig is the Kubernetes cluster of the argocd and flux drivers and
// of the node gate.
type KubeConfig struct {
	// Kubeconfig is a kubeconfig file; empty: the in-cluster config when
	// opsbot runs in a pod, else no cluster.
	Kubeconfig string `yaml:"kubeconfig"`
	Context    string `yaml:"context"`
	// Poll is how often an object is looked at while waiting.
	Poll time.Duration `yaml:"poll"`
}

var (
	branchRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)
	targetNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	hostNameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	sshAddrRE    = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$`)
)

// Drivers are the driver names a target may have.
var Drivers = []string{"nixos-rebuild", "nixos-rebuild-generations", "nix-run", "command", "argocd", "flux"}

func (c *Config) validateDeploy() error {
	r, d := &c.Repo, &c.Deploy
	if r.URL == "" {
		if len(d.Targets) > 0 {
			return errors.New("deploy.targets: need repo.url, the repo they are deployed from")
		}
		return nil
	}
	if strings.HasPrefix(r.URL, "-") {
		return fmt.Errorf("repo.url: %q is not a path or URL", r.URL)
	}
	if !branchRE.MatchString(r.Branch) {
		return fmt.Errorf("repo.branch: %q is not a branch name", r.Branch)
	}
	if r.Timeout <= 0 || d.PlanTTL <= 0 || d.Timeout <= 0 {
		return errors.New("repo.timeout, deploy.plan_ttl, deploy.timeout: must be positive")
	}
	if d.OutputLimitBytes < 4096 {
		return errors.New("deploy.output_limit_bytes: at least 4096")
	}
	seen := map[string]bool{}
	targets := make([]*DeployTarget, 0, len(d.Targets)+1)
	for i := range d.Targets {
		targets = append(targets, &d.Targets[i])
	}
	for name, members := range d.Groups {
		switch {
		case !targetNameRE.MatchString(name):
			return fmt.Errorf("deploy.groups: %q is not a group name (a-z, 0-9, - and _, up to 32)", name)
		case len(members) == 0:
			return fmt.Errorf("deploy.groups.%s: name its targets", name)
		}
		for _, m := range members {
			found := d.FlakeTargets.Driver != "" && hostNameRE.MatchString(m)
			for _, t := range d.Targets {
				found = found || t.Name == m
			}
			if !found {
				return fmt.Errorf("deploy.groups.%s: %q is not a target", name, m)
			}
		}
		for _, t := range d.Targets {
			if t.Name == name {
				return fmt.Errorf("deploy.groups.%s: a target has that name too", name)
			}
		}
	}
	if ft := d.FlakeTargets; ft.Driver != "" {
		if ft.Name != "" || ft.Host != "" {
			return errors.New("deploy.flake_targets: takes no name or host: each is a nixosConfigurations name")
		}
		ft.Name, ft.SSH = "flake", strings.ReplaceAll(ft.SSH, "{host}", "host")
		targets = append(targets, &ft)
	}
	for i, t := range targets {
		key := fmt.Sprintf("deploy.targets[%d]", i)
		if i == len(d.Targets) {
			key = "deploy.flake_targets"
		}
		switch {
		case !targetNameRE.MatchString(t.Name):
			return fmt.Errorf("%s.name: %q is not a target name (a-z, 0-9, - and _, up to 32)", key, t.Name)
		case seen[t.Name]:
			return fmt.Errorf("%s.name: %q is used twice", key, t.Name)
		case t.Host != "" && !hostNameRE.MatchString(t.Host):
			return fmt.Errorf("%s.host: %q is not a host name", key, t.Host)
		case t.SSH != "" && !sshAddrRE.MatchString(t.SSH):
			return fmt.Errorf("%s.ssh: %q is not an ssh address (user@host:port)", key, t.SSH)
		case t.Timeout < 0 || t.Gate.Duration < 0 || t.Gate.Interval < 0:
			return fmt.Errorf("%s: durations cannot be negative", key)
		case t.Gate.Duration > 0 && t.Gate.Interval <= 0:
			return fmt.Errorf("%s.gate.interval: must be positive with a gate", key)
		}
		seen[t.Name] = true
		if t.Rollback != "" && t.Rollback != "redeploy" && t.Rollback != "revert" {
			return fmt.Errorf("%s.rollback: redeploy or revert, not %q", key, t.Rollback)
		}
		known := false
		for _, n := range Drivers {
			known = known || n == t.Driver
		}
		if !known {
			return fmt.Errorf("%s.driver: %q is not one of %s", key, t.Driver, strings.Join(Drivers, ", "))
		}
		if (t.Driver == "command") != (len(t.Command) > 0) || (len(t.RollbackCommand) > 0 && t.Driver != "command") {
			return fmt.Errorf("%s.command: the command driver, and only it, takes command (and rollback_command)", key)
		}
		objects := 0
		for _, o := range []string{t.Application, t.Kustomization, t.HelmRelease} {
			if o != "" {
				objects++
				if ns, name, ok := strings.Cut(o, "/"); !ok || !hostNameRE.MatchString(ns) || !hostNameRE.MatchString(name) {
					return fmt.Errorf("%s: %q is not namespace/name", key, o)
				}
			}
		}
		switch {
		case t.Driver == "argocd" && (t.Application == "" || objects != 1):
			return fmt.Errorf("%s.application: the argocd driver takes an application (namespace/name), and no Flux object", key)
		case t.Driver == "flux" && (t.Application != "" || objects != 1):
			return fmt.Errorf("%s: the flux driver takes a kustomization or a helmrelease (namespace/name)", key)
		case t.Driver != "argocd" && t.Driver != "flux" && objects > 0:
			return fmt.Errorf("%s: application, kustomization and helmrelease are for the argocd and flux drivers", key)
		}
		if strings.HasPrefix(t.Driver, "nixos-rebuild") && t.SSH == "" {
			return fmt.Errorf("%s.ssh: %s deploys over ssh: name the host's address", key, t.Driver)
		}
		for _, u := range t.Gate.HTTP {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return fmt.Errorf("%s.gate.http: %q is not an http(s) URL", key, u)
			}
		}
		if len(t.Gate.AlertMatchers) > 0 && c.Alertmanager.URL == "" {
			return fmt.Errorf("%s.gate.alert_matchers: need alertmanager.url to ask", key)
		}
	}
	return nil
}

// Secrets are the configuration's secrets, for scrubbing them from what
// opsbot shows.
func (c *Config) Secrets() []string {
	out := []string{c.HTTP.ActionKey.Reveal(), c.Alertmanager.Token.Reveal(), c.Chat.Discord.Token.Reveal()}
	for _, t := range c.HTTP.Tokens {
		out = append(out, t.Token.Reveal())
	}
	for _, t := range c.Notify.Discord {
		out = append(out, t.Token.Reveal(), t.WebhookURL.Reveal())
	}
	for _, t := range c.Notify.Ntfy {
		out = append(out, t.Token.Reveal(), t.Password.Reveal())
	}
	for _, s := range c.Sources.Common() {
		out = append(out, s.Token.Reveal())
	}
	kept := out[:0]
	for _, s := range out {
		if s != "" {
			kept = append(kept, s)
		}
	}
	return kept
}

// UpgradeConfig is how upgrade plans are made.
type UpgradeConfig struct {
	// Hosts are the hosts whose systems are built and compared; none:
	// upgrades are off.
	Hosts []string `yaml:"hosts"`
	// Build builds a host's system and prints nix build --json: an
	// argument vector with {repo_dir} and {host}.
	Build []string `yaml:"build"`
	// Branch, if set, receives a commit of the new flake.lock, pushed;
	// empty: the lock file is kept in opsbot only.
	Branch  string        `yaml:"branch"`
	Timeout time.Duration `yaml:"timeout"`
	// Nodes are the Kubernetes nodes an upgrade is applied to, in order,
	// each with the deploy target that is its host.
	Nodes []UpgradeNode `yaml:"nodes"`
	// Snapshot, if set, runs before the first node (an argument vector).
	Snapshot     []string      `yaml:"snapshot"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
	// OnFailure: stop (the failed node stays as it is, cordoned) or
	// rollback (its target is deployed back to what it ran, and it stays
	// cordoned).
	OnFailure string `yaml:"on_failure"`
}

// UpgradeNode is a node of a rolling upgrade.
type UpgradeNode struct {
	Node   string `yaml:"node"`
	Target string `yaml:"target"`
}

func (c *Config) validateUpgrade() error {
	u := &c.Upgrade
	if len(u.Hosts) == 0 {
		return nil
	}
	if c.Repo.URL == "" {
		return errors.New("upgrade.hosts: need repo.url, the flake they are built from")
	}
	for _, h := range u.Hosts {
		if !hostNameRE.MatchString(h) {
			return fmt.Errorf("upgrade.hosts: %q is not a host name", h)
		}
	}
	if len(u.Build) == 0 || strings.Contains(u.Build[0], "{") {
		return errors.New("upgrade.build: an argument vector whose program is not a placeholder")
	}
	if u.Branch != "" && (!branchRE.MatchString(u.Branch) || u.Branch == c.Repo.Branch) {
		return fmt.Errorf("upgrade.branch: %q is not a branch name other than repo.branch", u.Branch)
	}
	if u.Timeout <= 0 || u.DrainTimeout <= 0 || u.ReadyTimeout <= 0 {
		return errors.New("upgrade.timeout, drain_timeout, ready_timeout: must be positive")
	}
	if u.OnFailure != "stop" && u.OnFailure != "rollback" {
		return fmt.Errorf("upgrade.on_failure: stop or rollback, not %q", u.OnFailure)
	}
	for i, n := range u.Nodes {
		found := false
		for _, t := range c.Deploy.Targets {
			found = found || t.Name == n.Target
		}
		switch {
		case !hostNameRE.MatchString(n.Node):
			return fmt.Errorf("upgrade.nodes[%d].node: %q is not a node name", i, n.Node)
		case !found && c.Deploy.FlakeTargets.Driver == "":
			return fmt.Errorf("upgrade.nodes[%d].target: %q is not a deploy target", i, n.Target)
		}
	}
	return nil
}

// ReportsConfig are the scheduled reports.
type ReportsConfig struct {
	Upgrade UpgradeReportConfig `yaml:"upgrade"`
}

// UpgradeReportConfig is the scheduled upgrade report (needs upgrade.hosts).
type UpgradeReportConfig struct {
	Enabled bool `yaml:"enabled"`
	// Schedule is a cron spec; CRON_TZ=Zone in front sets its time zone.
	Schedule string `yaml:"schedule"`
	// Targets are the notification targets it is posted to; none: all.
	Targets []string `yaml:"targets"`
}

func (c *Config) validateReports() error {
	u := &c.Reports.Upgrade
	if !u.Enabled {
		return nil
	}
	if len(c.Upgrade.Hosts) == 0 {
		return errors.New("reports.upgrade: needs upgrade.hosts (and repo.url)")
	}
	if _, err := CronParser.Parse(u.Schedule); err != nil {
		return fmt.Errorf("reports.upgrade.schedule: %w", err)
	}
	known := map[string]bool{}
	for _, t := range c.Notify.Ntfy {
		known[t.Name] = true
	}
	for _, t := range c.Notify.Discord {
		known[t.Name] = true
	}
	for _, t := range u.Targets {
		if !known[t] {
			return fmt.Errorf("reports.upgrade.targets: %q is not a notify target", t)
		}
	}
	return nil
}
