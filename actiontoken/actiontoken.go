// Package actiontoken makes and checks the tokens behind notification
// buttons (ntfy's http actions): HMAC-signed, naming one incident and one
// action, short-lived. A token's nonce becomes the command's id, so the
// reducer applies it once: a second press is refused.
package actiontoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// Errors of Verify.
var (
	ErrInvalid = errors.New("this button's link is not valid")
	ErrExpired = errors.New("this button has expired; act from the CLI or chat instead")
)

// Claim is what a valid token says.
type Claim struct {
	IncidentID int64
	Verb       incidents.Verb
	Expires    time.Time
	Nonce      string
}

// Signer signs and verifies tokens with a secret key.
type Signer struct {
	Key []byte
	TTL time.Duration
	Now func() time.Time
}

var b64 = base64.RawURLEncoding

// Sign makes a token for verb on incident id.
func (s *Signer) Sign(id int64, verb incidents.Verb) string {
	nonce := make([]byte, 12)
	rand.Read(nonce)
	payload := fmt.Sprintf("%d.%s.%d.%s", id, verb, s.Now().Add(s.TTL).Unix(), hex.EncodeToString(nonce))
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(s.mac(payload))
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks a token's signature and expiry.
func (s *Signer) Verify(token string) (Claim, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 512 {
		return Claim{}, ErrInvalid
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(string(payload))) {
		return Claim{}, ErrInvalid
	}
	f := strings.Split(string(payload), ".")
	if len(f) != 4 {
		return Claim{}, ErrInvalid
	}
	id, err1 := strconv.ParseInt(f[0], 10, 64)
	exp, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return Claim{}, ErrInvalid
	}
	c := Claim{IncidentID: id, Verb: incidents.Verb(f[1]), Expires: time.Unix(exp, 0), Nonce: f[3]}
	if !s.Now().Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}
