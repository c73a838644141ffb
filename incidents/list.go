package incidents

// Filter selects incidents for a listing, newest first.
type Filter struct {
	States []State // none: every state
	// Before pages: only incidents with a smaller id.
	Before int64
	Limit  int
}

// Page is one page of a listing; Next is the Before of the next page, 0 at the end.
type Page struct {
	Incidents []Incident `json:"incidents"`
	Next      int64      `json:"next_before,omitempty"`
}

// OpenCount is the number of open incidents in one state and severity.
type OpenCount struct {
	State    State
	Severity Severity
	N        int
}

// NoticeFilter selects notices, newest first.
type NoticeFilter struct {
	Source string // empty: every source
	Before int64
	Limit  int
}

// NoticePage is one page of notices; Next is the Before of the next page.
type NoticePage struct {
	Notices []Notice `json:"notices"`
	Next    int64    `json:"next_before,omitempty"`
}

// Activity is a timeline entry with the incident it belongs to: what
// happened lately, across incidents.
type Activity struct {
	IncidentID int64  `json:"incident_id"`
	Title      string `json:"title"`
	Entry
}
