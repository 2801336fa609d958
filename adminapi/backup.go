package adminapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// PathBackup streams an online backup of the node's ledger.
const PathBackup = "/api/v1/backup"

// BackupTrailer is the HTTP trailer a backup response ends with: "ok" when
// the whole snapshot was written. A response without it was cut short.
const BackupTrailer = "Ctimesh-Backup-Status"

func (s *Server) backupRoute() route {
	return route{
		method: http.MethodGet, path: PathBackup, auth: true, adminOnly: true,
		summary:  "Stream a consistent online backup of the ledger (restore with ctinode restore)",
		respType: "application/octet-stream",
		handle: func(*http.Request) (any, error) {
			return nil, fmt.Errorf("%w: backups are not enabled on this node", ErrNotFound)
		},
		serve: s.cfg.Backup,
	}
}

// Backup streams the node's ledger backup into w and returns the bytes
// written. It fails if the node's stream ends without BackupTrailer "ok".
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+PathBackup, nil)
	if err != nil {
		return 0, fmt.Errorf("admin api request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return 0, fmt.Errorf("%w? cannot reach the admin api at %s: %w", ErrNoNode, c.base, err)
		}
		return 0, fmt.Errorf("admin api backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return 0, decodeAPIError(resp.StatusCode, b)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("admin api backup: %w", err)
	}
	if st := resp.Trailer.Get(BackupTrailer); st != "ok" {
		return n, fmt.Errorf("admin api backup: the node did not finish the backup (%q)", st)
	}
	return n, nil
}
