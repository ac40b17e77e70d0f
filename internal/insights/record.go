package insights

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/util/desktop/bundle"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrNoHistory is returned for a daemon without the build history API
// (BuildKit before v0.11), or with it turned off.
var ErrNoHistory = errors.New("the BuildKit daemon keeps no build history (BuildKit v0.11 or later with history enabled is needed for a build record)")

// ErrNoRecord is returned when the daemon has no finished record of the ref.
var ErrNoRecord = errors.New("the BuildKit daemon has no finished build record for this ref")

// RecordSource is one build's record on one daemon.
type RecordSource struct {
	Client *client.Client
	Ref    string // the build's SolveOpt.Ref
}

// ExportRecord writes the build record of ref on c as a .dockerbuild bundle
// (a gzipped OCI archive that `docker buildx history import` reads), the way
// `docker buildx history export` does. On error w may hold part of a bundle:
// write to a temporary file.
func ExportRecord(ctx context.Context, c *client.Client, ref string, w io.Writer) error {
	return ExportRecords(ctx, []RecordSource{{Client: c, Ref: ref}}, w)
}

// ExportRecords writes several builds' records (a build split across nodes)
// as one bundle.
func ExportRecords(ctx context.Context, srcs []RecordSource, w io.Writer) error {
	return ExportScrubbed(ctx, srcs, w, nil)
}

// ExportScrubbed is ExportRecords with every text of the records' own
// fields (frontend attributes with the build args, exporter attributes,
// the error's message) passed through scrub, and the error's details (binary
// protos that can't be checked) dropped. The blobs the bundle copies from
// the daemon (log, trace, attestations) are unchanged: check the bundle
// with FindInBundle before publishing it.
func ExportScrubbed(ctx context.Context, srcs []RecordSource, w io.Writer, scrub func(string) string) error {
	if len(srcs) == 0 {
		return errors.New("build record: no build to export")
	}
	var clients []*client.Client
	var records []*bundle.Record
	seen := map[*client.Client]bool{}
	for _, src := range srcs {
		rec, err := fetchRecord(ctx, src.Client, src.Ref)
		if err != nil {
			return fmt.Errorf("build record %s: %w", src.Ref, err)
		}
		if scrub != nil {
			scrubRecord(rec, scrub)
		}
		records = append(records, &bundle.Record{BuildHistoryRecord: rec, DefaultPlatform: defaultPlatform(ctx, src.Client)})
		if !seen[src.Client] {
			seen[src.Client] = true
			clients = append(clients, src.Client)
		}
	}
	if err := bundle.Export(ctx, clients, w, records); err != nil {
		return fmt.Errorf("build record: %w", err)
	}
	return nil
}

// fetchRecord finalizes the record (so that its trace is written now rather
// than a few seconds after the build) and reads it back.
func fetchRecord(ctx context.Context, c *client.Client, ref string) (*controlapi.BuildHistoryRecord, error) {
	if ref == "" {
		return nil, errors.New("no ref: set SolveOpt.Ref for the build")
	}
	_, err := c.ControlClient().UpdateBuildHistory(ctx, &controlapi.UpdateBuildHistoryRequest{Ref: ref, Finalize: true})
	if err != nil {
		return nil, historyError("finalize", err)
	}
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{Ref: ref, EarlyExit: true})
	if err != nil {
		return nil, historyError("list", err)
	}
	defer stream.CloseSend()
	var found *controlapi.BuildHistoryRecord
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, historyError("list", err)
		}
		if ev.Record != nil && ev.Record.Ref == ref && ev.Type == controlapi.BuildHistoryEventType_COMPLETE {
			found = ev.Record
		}
	}
	if found == nil {
		return nil, ErrNoRecord
	}
	return found, nil
}

// historyError turns "no such API" into ErrNoHistory.
func historyError(op string, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w (%s: %v)", ErrNoHistory, op, err)
	}
	return fmt.Errorf("%s build history: %w", op, err)
}

// defaultPlatform is the daemon's first worker platform, which Docker Desktop
// shows for the record; "" when the daemon does not say.
func defaultPlatform(ctx context.Context, c *client.Client) string {
	ws, err := c.ListWorkers(ctx)
	if err != nil || len(ws) == 0 || len(ws[0].Platforms) == 0 {
		return ""
	}
	return platforms.FormatAll(platforms.Normalize(ws[0].Platforms[0]))
}
