package deploy

import (
	"fmt"
	"regexp"
	"strings"
)

// A Driver says how a target is deployed and rolled back: argument
// vectors with placeholders, substituted per argument after validation and
// run without a shell.
//
//	{host}     the target's host name (checked against the configuration)
//	{rev}      the full commit id being deployed
//	{repo_dir} the worktree of the repo at {rev}
//	{ssh}      the target's ssh address (user@host[:port])
type Driver struct {
	Name string
	// Kind is DriverArgoCD or DriverFlux for the drivers that talk to the
	// cluster, with Object ("namespace/name") and, for Flux, Resource
	// (kustomization or helmrelease); empty: Deploy is run.
	Kind, Object, Resource string
	// Deploy deploys {rev}.
	Deploy []string
	// Rollback, if set, rolls back without a revision (NixOS generations);
	// otherwise a rollback deploys the earlier revision with Deploy.
	Rollback []string
}

// Presets are the drivers known by name.
var Presets = map[string]Driver{
	"nixos-rebuild": {
		Name:   "nixos-rebuild",
		Deploy: []string{"nixos-rebuild", "switch", "--flake", "{repo_dir}#{host}", "--target-host", "{ssh}", "--use-remote-sudo"},
	},
	// nixos-rebuild-generations rolls back to the host's previous NixOS
	// generation instead of building the earlier revision.
	"nixos-rebuild-generations": {
		Name:     "nixos-rebuild-generations",
		Deploy:   []string{"nixos-rebuild", "switch", "--flake", "{repo_dir}#{host}", "--target-host", "{ssh}", "--use-remote-sudo"},
		Rollback: []string{"nixos-rebuild", "switch", "--rollback", "--target-host", "{ssh}", "--use-remote-sudo"},
	},
	"nix-run": {
		Name:   "nix-run",
		Deploy: []string{"nix", "run", "{repo_dir}#deploy", "--", "{host}"},
	},
}

var placeholderRE = regexp.MustCompile(`\{[a-z_]*\}`)

var placeholders = map[string]bool{"{host}": true, "{rev}": true, "{repo_dir}": true, "{ssh}": true}

// Check refuses a driver with an empty vector or unknown placeholders.
func (d *Driver) Check() error {
	if d.Kind != "" {
		if _, _, err := splitObject(d.Object); err != nil {
			return fmt.Errorf("driver %s: %w", d.Name, err)
		}
		if _, ok := FluxResources[d.Resource]; d.Kind == DriverFlux && !ok {
			return fmt.Errorf("driver %s: %q is not a Flux resource (kustomization, helmrelease)", d.Name, d.Resource)
		}
		return nil
	}
	if len(d.Deploy) == 0 || d.Deploy[0] == "" {
		return fmt.Errorf("driver %s: the deploy command is empty", d.Name)
	}
	for _, argv := range [][]string{d.Deploy, d.Rollback} {
		for _, a := range argv {
			for _, p := range placeholderRE.FindAllString(a, -1) {
				if !placeholders[p] {
					return fmt.Errorf("driver %s: unknown placeholder %s in %q (known: {host}, {rev}, {repo_dir}, {ssh})", d.Name, p, a)
				}
			}
		}
		if len(argv) > 0 && strings.Contains(argv[0], "{") {
			return fmt.Errorf("driver %s: the program itself cannot be a placeholder", d.Name)
		}
	}
	return nil
}

var (
	hostRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	sshRE  = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$`)
	fullRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// Vars are the values of the placeholders for one run.
type Vars struct {
	Host, Rev, RepoDir, SSH string
}

// Expand substitutes vars in argv, each value checked first, each
// argument on its own: a value never becomes more than part of one
// argument.
func Expand(argv []string, v Vars) ([]string, error) {
	switch {
	case !hostRE.MatchString(v.Host):
		return nil, refuse("%q is not a host name", clip(v.Host, 60))
	case v.Rev != "" && !fullRE.MatchString(v.Rev):
		return nil, refuse("%q is not a full commit id", clip(v.Rev, 80))
	case v.SSH != "" && !sshRE.MatchString(v.SSH):
		return nil, refuse("%q is not an ssh address (user@host:port)", clip(v.SSH, 80))
	}
	out := make([]string, len(argv))
	for i, a := range argv {
		for p, val := range map[string]string{"{host}": v.Host, "{rev}": v.Rev, "{repo_dir}": v.RepoDir, "{ssh}": v.SSH} {
			if strings.Contains(a, p) && val == "" {
				return nil, refuse("the driver needs %s, which this target has not", p)
			}
			a = strings.ReplaceAll(a, p, val)
		}
		out[i] = a
	}
	return out, nil
}
