package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/adminapi"
)

// defaultImportBatch keeps one publish request well under the node's body
// limit for typical objects, and big enough to sign and sync in bulk.
const defaultImportBatch = 2000

// importSummary is what an import did, printed at the end (as JSON with
// --json).
type importSummary struct {
	Files    int            `json:"files"`
	Objects  int            `json:"objects"`
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected"`
	Entries  int            `json:"entries"`
	Levels   map[string]int `json:"levels"`
	// Reasons counts rejected objects by reason; Examples gives up to five
	// object ids per reason.
	Reasons  map[string]int      `json:"reasons"`
	Examples map[string][]string `json:"examples"`
	Seconds  float64             `json:"seconds"`
}

func (s *importSummary) reject(id, reason string) {
	s.Rejected++
	s.Reasons[reason]++
	if len(s.Examples[reason]) < 5 {
		s.Examples[reason] = append(s.Examples[reason], id)
	}
}

func newImportCmd() *cobra.Command {
	var f apiFlags
	var tlp, group string
	var batch int
	var quiet bool
	c := &cobra.Command{
		Use:   "import --data DIR [--tlp LEVEL] [--group G] [--batch N] FILE...",
		Short: "Publish large STIX bundles in batches, with progress and a summary of what was refused and why",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch <= 0 {
				return usageError("--batch must be positive")
			}
			var objs []json.RawMessage
			for _, name := range args {
				got, err := readObjects(name)
				if err != nil {
					return codedError{exitUsage, fmt.Errorf("%s: %w", name, err)}
				}
				objs = append(objs, got...)
			}
			sum := importSummary{Files: len(args), Objects: len(objs), Levels: map[string]int{},
				Reasons: map[string]int{}, Examples: map[string][]string{}}
			opts := adminapi.PublishOptions{TLP: tlp, Group: group}
			var bar *progressbar.ProgressBar
			if !quiet {
				bar = progressbar.NewOptions(len(objs),
					progressbar.OptionSetWriter(cmd.ErrOrStderr()),
					progressbar.OptionSetDescription("importing"),
					progressbar.OptionShowCount(),
					progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("objects"),
					progressbar.OptionSetPredictTime(true),
					progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionShowElapsedTimeOnFinish(),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }),
				)
			}
			start := time.Now()
			for off := 0; off < len(objs); off += batch {
				part := objs[off:min(off+batch, len(objs))]
				if err := publishBatch(cmd, &f, part, opts, &sum); err != nil {
					return err
				}
				if bar != nil {
					bar.Add(len(part))
				}
			}
			sum.Seconds = time.Since(start).Seconds()
			if f.asJSON {
				b, _ := json.MarshalIndent(sum, "", "  ")
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			} else {
				printImportSummary(cmd.OutOrStdout(), &sum)
			}
			if sum.Rejected > 0 {
				return codedError{exitRefused, fmt.Errorf("%d of %d objects refused", sum.Rejected, sum.Objects)}
			}
			return nil
		},
	}
	f.add(c, true)
	c.Flags().StringVar(&tlp, "tlp", "", "TLP level for unmarked objects; raises marked ones")
	c.Flags().StringVar(&group, "group", "", "publish to one group (constituency) only")
	c.Flags().IntVar(&batch, "batch", defaultImportBatch, "objects per publish request")
	c.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return c
}

// objectProblem matches one line of a refused publish: the node names each
// bad object by its index in the batch.
var objectProblem = regexp.MustCompile(`(?m)(?:^|: )object (\d+)(?: \(([^)]*)\))?: (.*)$`)

// publishBatch publishes part. A publish is all or nothing, so when the
// node refuses some objects, they are recorded with the node's reason and
// the rest is published again; if the refusal names no object, each
// object is tried alone so that every one gets its own verdict.
func publishBatch(cmd *cobra.Command, f *apiFlags, part []json.RawMessage, opts adminapi.PublishOptions, sum *importSummary) error {
	for len(part) > 0 {
		res, err := publishObjects(cmd, f, part, opts)
		if err == nil {
			sum.Accepted += res.Objects
			sum.Entries += len(res.Entries)
			for l, n := range res.Levels {
				sum.Levels[l] += n
			}
			return nil
		}
		var apiErr *adminapi.APIError
		if !errors.As(err, &apiErr) || (apiErr.StatusCode != http.StatusUnprocessableEntity &&
			apiErr.StatusCode != http.StatusBadRequest && apiErr.StatusCode != http.StatusForbidden) {
			return mapAPIError(f.dir, err)
		}
		bad := map[int]bool{}
		for _, m := range objectProblem.FindAllStringSubmatch(apiErr.Message, -1) {
			i, _ := strconv.Atoi(m[1])
			if i >= 0 && i < len(part) && !bad[i] {
				bad[i] = true
				id := m[2]
				if id == "" {
					id = objectID(part[i])
				}
				sum.reject(id, reasonClass(m[3]))
			}
		}
		if len(bad) == 0 {
			if len(part) == 1 {
				sum.reject(objectID(part[0]), reasonClass(apiErr.Message))
				return nil
			}
			for _, o := range part {
				if err := publishBatch(cmd, f, []json.RawMessage{o}, opts, sum); err != nil {
					return err
				}
			}
			return nil
		}
		keep := part[:0:0]
		for i, o := range part {
			if !bad[i] {
				keep = append(keep, o)
			}
		}
		part = keep
	}
	return nil
}

func publishObjects(cmd *cobra.Command, f *apiFlags, objs []json.RawMessage, opts adminapi.PublishOptions) (adminapi.PublishResult, error) {
	var res adminapi.PublishResult
	var b bytes.Buffer
	b.WriteString(`{"type":"bundle","id":"bundle--`)
	b.WriteString(newUUID())
	b.WriteString(`","objects":[`)
	for i, o := range objs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(o)
	}
	b.WriteString("]}")
	var c *adminapi.Client
	var err error
	if f.readOnly {
		c, err = adminapi.DialDirReadOnly(f.dir)
	} else {
		c, err = adminapi.DialDir(f.dir)
	}
	if err != nil {
		return res, codedError{exitNoNode, err}
	}
	defer c.Close()
	raw, err := c.Do(cmd.Context(), http.MethodPost, adminapi.PathObjects, opts.Values(), &b)
	if err != nil {
		return res, err
	}
	return res, json.Unmarshal(raw, &res)
}

// reasonClass shortens a refusal to its stable part, for grouping: the
// text before the first colon-separated detail that names values.
func reasonClass(msg string) string {
	msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	if i := strings.Index(msg, "; pass"); i > 0 {
		msg = msg[:i]
	}
	return trunc(msg, 120)
}

func objectID(raw json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil || v.ID == "" {
		return "(no id)"
	}
	return v.ID
}

func printImportSummary(w io.Writer, s *importSummary) {
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.Accepted) / s.Seconds
	}
	fmt.Fprintf(w, "imported %d of %d objects from %d file(s) in %.1fs (%.0f objects/s), %d entries\n",
		s.Accepted, s.Objects, s.Files, s.Seconds, rate, s.Entries)
	levels := make([]string, 0, len(s.Levels))
	for l, n := range s.Levels {
		levels = append(levels, fmt.Sprintf("%s %d", l, n))
	}
	sort.Strings(levels)
	if len(levels) > 0 {
		fmt.Fprintf(w, "by level: %s\n", strings.Join(levels, ", "))
	}
	if s.Rejected == 0 {
		return
	}
	fmt.Fprintf(w, "refused %d object(s):\n", s.Rejected)
	reasons := make([]string, 0, len(s.Reasons))
	for r := range s.Reasons {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return s.Reasons[reasons[i]] > s.Reasons[reasons[j]] })
	for _, r := range reasons {
		fmt.Fprintf(w, "  %6d  %s\n          e.g. %s\n", s.Reasons[r], r, strings.Join(s.Examples[r], ", "))
	}
}

// readObjects reads a STIX bundle, a JSON array of objects or one object,
// gzip-compressed or not, and returns the objects as raw JSON. A bundle's
// objects are decoded one at a time, so a large file is never held twice.
func readObjects(name string) ([]json.RawMessage, error) {
	var in io.Reader
	if name == "-" {
		in = os.Stdin
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		in = fh
	}
	br := bufio.NewReaderSize(in, 1<<20)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	dec := json.NewDecoder(br)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	var out []json.RawMessage
	switch tok {
	case json.Delim('['):
		for dec.More() {
			var o json.RawMessage
			if err := dec.Decode(&o); err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		return out, nil
	case json.Delim('{'):
	default:
		return nil, errors.New("want a STIX bundle, an array of objects or one object")
	}
	// An object: a bundle if it has "objects", else a single object, which
	// is rebuilt from its members.
	var single bytes.Buffer
	single.WriteByte('{')
	isBundle := false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := kt.(string)
		if key == "objects" {
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return nil, errors.New(`"objects" is not an array`)
			}
			for dec.More() {
				var o json.RawMessage
				if err := dec.Decode(&o); err != nil {
					return nil, err
				}
				out = append(out, o)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			isBundle = true
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if single.Len() > 1 {
			single.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		single.Write(kb)
		single.WriteByte(':')
		single.Write(v)
	}
	if isBundle {
		return out, nil
	}
	single.WriteByte('}')
	return []json.RawMessage{single.Bytes()}, nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
