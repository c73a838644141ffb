package incidents

// Route sends matching incidents to targets. An empty field matches
// anything; labels must all be equal.
type Route struct {
	Severities []Severity
	Sources    []string
	Labels     map[string]string
	Targets    []string
	// Continue: later routes are tried too.
	Continue bool
}

// Routes are the routing rules, tried in order; Default are the targets of
// an incident no route matched.
type Routes struct {
	Routes  []Route
	Default []string
}

// Targets says where an incident's notifications go.
func (r *Routes) Targets(inc *Incident) []string {
	var out []string
	seen := map[string]bool{}
	matched := false
	for _, rt := range r.Routes {
		if !rt.matches(inc) {
			continue
		}
		matched = true
		for _, t := range rt.Targets {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
		if !rt.Continue {
			break
		}
	}
	if !matched {
		return r.Default
	}
	return out
}

func (rt *Route) matches(inc *Incident) bool {
	if len(rt.Severities) > 0 && !contains(rt.Severities, inc.Severity) {
		return false
	}
	if len(rt.Sources) > 0 && !contains(rt.Sources, inc.Source) {
		return false
	}
	for k, v := range rt.Labels {
		if inc.Labels[k] != v {
			return false
		}
	}
	return true
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
