package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// hook serves one source's webhook: the body is decoded (a form-data body's
// "data" field, as Uptime Kuma sends it), then stored as it came on the
// source's raw subject, for the reducer to decode the same way.
func (s *Server) hook(h Hook) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := s.readBody(w, r)
		if !ok {
			s.Metrics.rejected(h.Name, "too_large", 1)
			return
		}
		body, err := formData(r.Header.Get("Content-Type"), body)
		if err != nil {
			s.Metrics.rejected(h.Name, "invalid", 1)
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		delivery := s.NewID()
		evs, err := h.Decode(body, delivery)
		if err == nil && len(evs) == 0 {
			err = errors.New("it holds no events")
		}
		if err != nil {
			s.Metrics.rejected(h.Name, "invalid", 1)
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid %s webhook: %v", h.Name, err))
			return
		}
		if !s.publish(w, r, evs, h.Name, body, delivery) {
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "stored", "events": len(evs)})
	}
}

// formData returns the "data" field of a multipart/form-data body, and any
// other body as it is.
func formData(contentType string, body []byte) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return body, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, errors.New(`invalid form-data: no "data" field`)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid form-data: %w", err)
		}
		if p.FormName() == "data" {
			return io.ReadAll(p)
		}
	}
}
