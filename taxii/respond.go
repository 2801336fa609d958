package taxii

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// writeJSON is the one writer of JSON resources. HTML escaping is off so
// objects keep their characters.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("taxii encode response", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		enc.Encode(taxiiError(status, "internal error"))
	}
	h := w.Header()
	h.Set("Content-Type", MediaType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeError is the one writer of errors: every error is a TAXII error
// object. Internal errors are logged and answered without details.
func (s *Server) writeError(w *statusWriter, r *http.Request, err error) {
	if w.wrote {
		// Streaming already began: nothing sensible can be sent.
		s.log.Warn("taxii response cut short", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	var e *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &mbe):
		e = taxiiError(http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes (the API root's max_content_length)")
	default:
		s.log.Error("taxii request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = taxiiError(http.StatusInternalServerError, "internal error")
	}
	s.writeJSON(w, e.status, e)
}

// acceptable reports whether an Accept header admits the TAXII 2.1 media
// type: application/taxii+json with version 2.1 or no version, or a
// wildcard, with a non-zero q. No header accepts anything.
func acceptable(h string) bool {
	if strings.TrimSpace(h) == "" {
		return true
	}
	for _, part := range strings.Split(h, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
				continue
			}
		}
		switch mt {
		case "*/*", "application/*":
			return true
		case "application/taxii+json":
			if v, ok := params["version"]; !ok || v == "2.1" {
				return true
			}
		}
	}
	return false
}

// taxiiContent reports whether a Content-Type is the TAXII 2.1 media type
// (a version, if given, must be 2.1).
func taxiiContent(h string) bool {
	mt, params, err := mime.ParseMediaType(h)
	if err != nil || mt != "application/taxii+json" {
		return false
	}
	v, ok := params["version"]
	return !ok || v == "2.1"
}

// statusWriter records what was written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// certLoader serves the configured certificate and re-reads it when the
// files change, so a renewed certificate needs no restart.
type certLoader struct {
	certFile, keyFile string

	mu        sync.RWMutex
	cert      *tls.Certificate
	certStamp os.FileInfo
	keyStamp  os.FileInfo
}

func (l *certLoader) reload() (bool, error) {
	cs, err1 := os.Stat(l.certFile)
	ks, err2 := os.Stat(l.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return false, err
	}
	l.mu.RLock()
	same := l.cert != nil && sameStamp(l.certStamp, cs) && sameStamp(l.keyStamp, ks)
	l.mu.RUnlock()
	if same {
		return false, nil
	}
	cert, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	l.cert, l.certStamp, l.keyStamp = &cert, cs, ks
	l.mu.Unlock()
	return true, nil
}

func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cert, nil
}
