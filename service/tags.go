package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// AWS's tagging limits (the model only says tags are a string map).
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks tags against AWS's tagging rules: at most 50 tags,
// keys of 1 to 128 characters that do not start with the reserved "aws:",
// values of at most 256 characters. field names the member in errors.
func validateTags(field string, tags map[string]string) error {
	if len(tags) > maxTags {
		return invalidField(field, "%s has %d tags; a resource can have at most %d", field, len(tags), maxTags)
	}
	for k, v := range tags {
		switch n := utf8.RuneCountInString(k); {
		case n < 1 || n > maxTagKeyLen:
			return invalidField(field, "Tag key %q in %s must be 1 to %d characters long", k, field, maxTagKeyLen)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return invalidField(field, "Tag key %q in %s uses the reserved prefix \"aws:\"", k, field)
		case utf8.RuneCountInString(v) > maxTagValueLen:
			return invalidField(field, "The value of tag %q in %s must be at most %d characters long", k, field, maxTagValueLen)
		}
	}
	return nil
}

// taggable loads the record of a taggable resource by ARN. A resource that
// does not exist or is DELETED is ResourceNotFoundException naming the ARN.
// Records are handled as JSON objects, not as their Go types, so that every
// kind is tagged the same way, whoever wrote its document type.
func (s *Service) taggable(ctx context.Context, tx opennimble.Tx, arn string) (*opennimble.Record, map[string]json.RawMessage, error) {
	kind, id, err := s.parseARN(arn)
	if err != nil {
		return nil, nil, err
	}
	rec, err := tx.Get(ctx, kind, id)
	if errors.Is(err, opennimble.ErrNoRecord) || (err == nil && rec.State == deletedState) {
		return nil, nil, opennimble.NotFound(strings.ReplaceAll(string(kind), "-", " "), arn)
	}
	if err != nil {
		return nil, nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec.Data, &m); err != nil {
		return nil, nil, fmt.Errorf("decode %s %s: %w", rec.Kind, rec.ID, err)
	}
	return rec, m, nil
}

func readTags(m map[string]json.RawMessage) (map[string]string, error) {
	tags := map[string]string{}
	if raw, ok := m["tags"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, fmt.Errorf("decode tags: %w", err)
		}
	}
	return tags, nil
}

// serviceImageARN reports whether arn names a service-owned streaming image.
func (s *Service) serviceImageARN(arn string) bool {
	kind, id, err := s.parseARN(arn)
	return err == nil && kind == opennimble.KindStreamingImage && s.serviceImage(id) != nil
}

// editTags changes the tags of the resource arn with edit, then checks the
// result against the limits and stores it with the record's other columns
// unchanged.
func (s *Service) editTags(ctx context.Context, t *txn, arn string, edit func(map[string]string)) error {
	if s.serviceImageARN(arn) {
		_, id, _ := s.parseARN(arn)
		return notOwned(id)
	}
	rec, m, err := s.taggable(ctx, t, arn)
	if err != nil {
		return err
	}
	tags, err := readTags(m)
	if err != nil {
		return err
	}
	edit(tags)
	if err := validateTags("tags", tags); err != nil {
		return err
	}
	if len(tags) == 0 {
		delete(m, "tags")
	} else if m["tags"], err = json.Marshal(tags); err != nil {
		return err
	}
	if rec.Data, err = json.Marshal(m); err != nil {
		return err
	}
	return t.Put(ctx, rec)
}

func (s *Service) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	if err := validateTags("tags", in.Tags); err != nil {
		return nil, err
	}
	return idempotent(ctx, s, "TagResource", "", in, func(t *txn) (*api.TagResourceResponse, error) {
		err := s.editTags(ctx, t, in.ResourceArn, func(tags map[string]string) { maps.Copy(tags, in.Tags) })
		if err != nil {
			return nil, err
		}
		return &api.TagResourceResponse{}, nil
	})
}

func (s *Service) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	return idempotent(ctx, s, "UntagResource", "", in, func(t *txn) (*api.UntagResourceResponse, error) {
		err := s.editTags(ctx, t, in.ResourceArn, func(tags map[string]string) {
			for _, k := range in.TagKeys {
				delete(tags, k)
			}
		})
		if err != nil {
			return nil, err
		}
		return &api.UntagResourceResponse{}, nil
	})
}

func (s *Service) ListTagsForResource(ctx context.Context, in *api.ListTagsForResourceRequest) (*api.ListTagsForResourceResponse, error) {
	if s.serviceImageARN(in.ResourceArn) {
		return &api.ListTagsForResourceResponse{Tags: map[string]string{}}, nil
	}
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListTagsForResourceResponse, error) {
		_, m, err := s.taggable(ctx, tx, in.ResourceArn)
		if err != nil {
			return nil, err
		}
		tags, err := readTags(m)
		if err != nil {
			return nil, err
		}
		return &api.ListTagsForResourceResponse{Tags: tags}, nil
	})
}
