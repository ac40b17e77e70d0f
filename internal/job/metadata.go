package job

import (
	"encoding/json"
	"fmt"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// metadataDoc is the metadata file's document, the one place it is made:
// for one image, its exporter response (as buildctl's --metadata-file has
// it) plus our result under "remote-buildkit"; with bake, that per target,
// keyed by the target's name (as docker buildx bake --metadata-file).
func metadataDoc(step *Step) map[string]any {
	one := func(im *image) map[string]any {
		doc := map[string]any{}
		for k, v := range im.res.Exporter {
			doc[k] = v
		}
		doc["remote-buildkit"] = im.res
		return doc
	}
	if step.Kind != BakeImages {
		return one(step.Images[0])
	}
	doc := map[string]any{}
	for _, im := range step.Images {
		doc[im.name] = one(im)
	}
	return doc
}

// writeMetadataFile writes the metadata document to path, atomically.
func writeMetadataFile(path string, step *Step) error {
	b, err := json.MarshalIndent(metadataDoc(step), "", "  ")
	if err != nil {
		return err
	}
	b = []byte(step.Redact.String(string(b))) // step names hold build args
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("metadata-file %s: %w", path, err)
	}
	return nil
}

// writeMetadata writes the step's metadata file, when it names one.
func writeMetadata(d Deps, step *Step) error {
	path := step.Config.MetadataFile
	if path == "" {
		return nil
	}
	if err := writeMetadataFile(path, step); err != nil {
		return exitcode.With(exitcode.Internal, err)
	}
	fmt.Fprintf(d.Out, "metadata: %s\n", relTo(d.WorkDir, path))
	return nil
}
