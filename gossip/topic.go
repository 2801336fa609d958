package gossip

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Topic names:
//
//	/ctimesh/1/<fed>/clear | green | amber          whole-federation feeds
//	/ctimesh/1/<fed>/green/<group> | amber/<group>  group feeds
//	/ctimesh/1/<fed>/green-unregulated[/<group>]    regulated teams excluded
//	/ctimesh/1/<fed>/amber-unregulated[/<group>]
//	/ctimesh/1/<fed>/amber-strict/<team-tag>        one team's own nodes
//	/ctimesh/1/<fed>/trust                          credentials, revocations
//
// <fed> is the federation id in lower-case hex. RED has no topic.
const (
	topicPrefix = "/ctimesh/1/"
	trustSuffix = "trust"
	// TeamTagLen is the length of a team tag: hex of the first 8 bytes of
	// SHA-256 of the team name. It keeps team names, which may be long and
	// carry any characters, out of topic names.
	TeamTagLen = 16
)

// TopicInfo is a parsed topic name.
type TopicInfo struct {
	Federation envelope.FederationID
	// Trust is set for the federation's trust topic; Feed and TeamTag are
	// then zero.
	Trust bool
	// Feed is the feed the topic carries. Group is set only for GREEN and
	// AMBER group topics.
	Feed envelope.Feed
	// TeamTag is set only for AMBER+STRICT topics (see TeamTag).
	TeamTag string
}

// Name is the topic name; ParseTopic(i.Name()) == i for every i ParseTopic
// returns.
func (i TopicInfo) Name() string {
	base := topicPrefix + i.Federation.String() + "/"
	switch {
	case i.Trust:
		return base + trustSuffix
	case i.Feed.Level == stix.AmberStrict:
		return base + i.Feed.Level.Slug() + "/" + i.TeamTag
	}
	return base + i.Feed.String()
}

func (i TopicInfo) String() string { return i.Name() }

// TeamTag is the AMBER+STRICT topic tag of a team: the first TeamTagLen hex
// characters of the SHA-256 of its name.
func TeamTag(team string) string {
	h := sha256.Sum256([]byte(team))
	return hex.EncodeToString(h[:TeamTagLen/2])
}

// TrustTopic is the federation's trust topic, which carries credential and
// revocation entries.
func TrustTopic(fed envelope.FederationID) string {
	return TopicInfo{Federation: fed, Trust: true}.Name()
}

// TopicName is the topic of a feed. team is needed only for AMBER+STRICT,
// which is gossiped on the publishing team's own topic. RED, groups on CLEAR
// or AMBER+STRICT and invalid groups have no topic.
func TopicName(fed envelope.FederationID, feed envelope.Feed, team string) (string, error) {
	info, err := feedTopic(fed, feed, team)
	if err != nil {
		return "", err
	}
	return info.Name(), nil
}

func feedTopic(fed envelope.FederationID, feed envelope.Feed, team string) (TopicInfo, error) {
	info := TopicInfo{Federation: fed, Feed: feed}
	if err := feed.Validate(); err != nil {
		return info, fmt.Errorf("%w: feed %s: %w", ErrBadTopic, feed, err)
	}
	switch feed.Level {
	case stix.Red:
		return info, ErrRed
	case stix.Clear:
		if feed.Group != "" {
			return info, fmt.Errorf("%w: clear has no group topics (group %q)", ErrBadTopic, feed.Group)
		}
	case stix.AmberStrict:
		if feed.Group != "" {
			return info, fmt.Errorf("%w: amber+strict has no group topics (group %q)", ErrBadTopic, feed.Group)
		}
		if team == "" {
			return info, fmt.Errorf("%w: amber+strict needs a team", ErrBadTopic)
		}
		info.TeamTag = TeamTag(team)
	}
	return info, nil
}

// ParseTopic is the inverse of TopicName and TrustTopic. It accepts only the
// canonical form (lower-case hex, no empty or extra segments), so that one
// feed has exactly one topic.
func ParseTopic(name string) (TopicInfo, error) {
	var info TopicInfo
	bad := func(why string) (TopicInfo, error) {
		return TopicInfo{}, fmt.Errorf("%w: %q: %s", ErrBadTopic, name, why)
	}
	rest, ok := strings.CutPrefix(name, topicPrefix)
	if !ok {
		return bad("no " + topicPrefix + " prefix")
	}
	fedHex, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no feed")
	}
	fed, ok := parseFed(fedHex)
	if !ok {
		return bad("federation id is not 64 lower-case hex characters")
	}
	info.Federation = fed
	slug, sub, hasSub := strings.Cut(rest, "/")
	if hasSub && sub == "" {
		return bad("empty last segment")
	}
	switch slug {
	case trustSuffix:
		if hasSub {
			return bad("trust topic has no sub-topic")
		}
		info.Trust = true
		return info, nil
	case "clear":
		info.Feed.Level = stix.Clear
		if hasSub {
			return bad("clear has no group topics")
		}
	case "green", "amber", "green" + envelope.UnregulatedSuffix, "amber" + envelope.UnregulatedSuffix:
		level, unreg := strings.CutSuffix(slug, envelope.UnregulatedSuffix)
		info.Feed.Level, _ = stix.ParseLevel(level)
		info.Feed.Unregulated = unreg
		if hasSub {
			if err := envelope.ValidateGroup(sub); err != nil {
				return bad("invalid group")
			}
			info.Feed.Group = sub
		}
	case "amber-strict":
		info.Feed.Level = stix.AmberStrict
		if !hasSub || len(sub) != TeamTagLen || !isLowerHex(sub) {
			return bad("amber-strict needs a team tag of 16 lower-case hex characters")
		}
		info.TeamTag = sub
	default:
		return bad(fmt.Sprintf("unknown feed %q", slug))
	}
	return info, nil
}

// parseFed decodes exactly 64 lower-case hex characters without allocating:
// the peer filter parses topic names for every peer at every heartbeat.
func parseFed(s string) (envelope.FederationID, bool) {
	var h envelope.FederationID
	if len(s) != 2*len(h) || !isLowerHex(s) {
		return h, false
	}
	for i := range h {
		h[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return h, true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
