package actiontoken

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	s := &Signer{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Hour, Now: func() time.Time { return now }}
	tok := s.Sign(42, incidents.Ack)
	c, err := s.Verify(tok)
	if err != nil || c.IncidentID != 42 || c.Verb != incidents.Ack || c.Nonce == "" {
		t.Fatalf("%+v %v", c, err)
	}
	if other := s.Sign(42, incidents.Ack); other == tok {
		t.Fatal("two tokens for the same action are equal: they would share a nonce")
	}
	// Tampered: another incident or action with the old signature.
	p, sig, _ := strings.Cut(tok, ".")
	raw, _ := b64.DecodeString(p)
	forged := b64.EncodeToString([]byte(strings.Replace(string(raw), "42.ack", "43.resolve", 1))) + "." + sig
	for _, bad := range []string{forged, tok + "x", "nonsense", "", p + ".", strings.Repeat("a", 600)} {
		if _, err := s.Verify(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	other := &Signer{Key: []byte("another key of at least 32 bytes!!"), TTL: time.Hour, Now: s.Now}
	if _, err := other.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another key: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := s.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

// FuzzVerify: no token from outside panics Verify, and only a token this
// key signed verifies.
func FuzzVerify(f *testing.F) {
	s := &Signer{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Hour, Now: time.Now}
	f.Add(s.Sign(1, incidents.Ack))
	f.Add("MS5hY2suOTk5OTk5OTk5OS5hYmM.c2lnbmF0dXJl")
	f.Add("")
	f.Add(".")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token)
		if err == nil && (c.IncidentID == 0 && c.Verb == "") {
			t.Fatalf("an empty claim verified: %q", token)
		}
	})
}
