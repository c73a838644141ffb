package upgrade

import (
	"regexp"
	"sort"
	"strings"
)

// Change is one line of `nix store diff-closures`: a package whose
// versions or size changed.
type Change struct {
	Name string `json:"name"`
	// From and To are the versions ("∅" for none, "ε" for an empty one);
	// empty when only the size changed.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Size is the size change as nix prints it ("+1.2 KiB"), if any.
	Size string `json:"size,omitempty"`
}

var (
	ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")
	lineRE = regexp.MustCompile(`^(\S.*?): (.*)$`)
	sizeRE = regexp.MustCompile(`^[+-]\d+(\.\d+)? [KMGT]?i?B$`)
)

// ParseDiffClosures reads the output of `nix store diff-closures`; lines
// it does not understand (nix's warnings) are skipped.
func ParseDiffClosures(out string) []Change {
	var changes []Change
	// nix colours the sizes, terminal or not.
	out = ansiRE.ReplaceAllString(out, "")
	for _, line := range strings.Split(out, "\n") {
		m := lineRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || strings.HasPrefix(line, "warning:") || strings.HasPrefix(line, "building ") {
			continue
		}
		c := Change{Name: m[1]}
		rest := m[2]
		if from, to, ok := strings.Cut(rest, " → "); ok {
			c.From, c.To = from, to
			if i := strings.LastIndex(to, ", "); i >= 0 && sizeRE.MatchString(to[i+2:]) {
				c.To, c.Size = to[:i], to[i+2:]
			}
			if c.From == "" {
				c.From = "ε"
			}
			if c.To == "" {
				c.To = "ε"
			}
		} else if sizeRE.MatchString(rest) {
			c.Size = rest
		} else {
			continue
		}
		if c.Size != "" && !sizeRE.MatchString(c.Size) {
			continue
		}
		changes = append(changes, c)
	}
	return changes
}

// Impact is what an upgrade of a host would restart.
type Impact struct {
	// Reboot: the kernel, its modules or the initrd changed.
	Reboot bool `json:"reboot"`
	// K3sRestart: k3s changed.
	K3sRestart bool `json:"k3s_restart"`
	// Services are the systemd units that changed; Packages the other
	// packages, whose services restart if they use them.
	Services []string `json:"services,omitempty"`
	Packages []string `json:"packages,omitempty"`
	// Why names the changes behind Reboot and K3sRestart.
	Why []string `json:"why,omitempty"`
}

// Nothing reports whether the upgrade changes nothing on the host.
func (i Impact) Nothing() bool {
	return !i.Reboot && !i.K3sRestart && len(i.Services) == 0 && len(i.Packages) == 0
}

// Summary is the impact in a few words.
func (i Impact) Summary() string {
	var parts []string
	if i.Reboot {
		parts = append(parts, "reboot")
	}
	if i.K3sRestart {
		parts = append(parts, "k3s restart")
	}
	if len(i.Services) > 0 {
		parts = append(parts, "restarts "+strings.Join(i.Services, ", "))
	}
	if len(i.Packages) > 0 {
		parts = append(parts, "updates "+strings.Join(i.Packages, ", "))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

var (
	rebootRE = regexp.MustCompile(`^(linux|linux-modules|linux-modules-shrunk|kernel-modules|initrd|initrd-linux|initrd-.*)$`)
	unitRE   = regexp.MustCompile(`^unit-(.+\.(service|socket|timer|mount|target))$`)
)

// Classify says what the changes of a host's closure would restart.
func Classify(changes []Change) Impact {
	var im Impact
	for _, c := range changes {
		switch {
		case rebootRE.MatchString(c.Name):
			im.Reboot = true
			im.Why = append(im.Why, describe(c))
		case c.Name == "k3s":
			im.K3sRestart = true
			im.Why = append(im.Why, describe(c))
		case unitRE.MatchString(c.Name):
			im.Services = append(im.Services, unitRE.FindStringSubmatch(c.Name)[1])
		case strings.HasPrefix(c.Name, "nixos-system-") || c.Name == "etc" || strings.HasPrefix(c.Name, "system-"):
			// the system itself and its generated files: not a package
		default:
			im.Packages = append(im.Packages, c.Name)
		}
	}
	sort.Strings(im.Services)
	sort.Strings(im.Packages)
	return im
}

func describe(c Change) string {
	if c.From == "" {
		return c.Name + " " + c.Size
	}
	return c.Name + " " + c.From + " → " + c.To
}
