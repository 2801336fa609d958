package taxii

import (
	"crypto/sha1"
	"fmt"
	"slices"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// collectionNamespace is the UUID namespace of collection ids
// (a random UUID chosen once for ctimesh).
var collectionNamespace = [16]byte{0x5b, 0x0f, 0x7e, 0x2c, 0x8a, 0x41, 0x4d, 0x1e, 0x9c, 0x53, 0x27, 0xd6, 0x0b, 0x88, 0xe1, 0x4a}

// CollectionID derives a collection's id from the federation id and the
// collection's name ("level/green", "group/country:fr") as a version 5
// UUID (RFC 9562), so every node of a federation has the same ids.
func CollectionID(federationID, name string) string {
	h := sha1.New()
	h.Write(collectionNamespace[:])
	h.Write([]byte(federationID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// LevelAlias is the alias of a level's collection: "tlp-amber-strict".
func LevelAlias(l stix.Level) string { return "tlp-" + l.Slug() }

// GroupAlias is the alias of a group's collection: "group-country:fr".
func GroupAlias(g string) string { return "group-" + g }

// servedLevels are the levels that have a collection. RED is never
// published to a feed, so the ledger holds none to serve.
var servedLevels = []stix.Level{stix.Clear, stix.Green, stix.Amber, stix.AmberStrict}

// scopeState is a Scope with its collection ids computed once.
type scopeState struct {
	Scope
	levelIDs map[stix.Level]string
	groupIDs map[string]string
}

func newScopeState(sc Scope) *scopeState {
	groups := slices.Clone(sc.Groups)
	slices.Sort(groups)
	sc.Groups = slices.Compact(groups)
	st := &scopeState{Scope: sc, levelIDs: map[stix.Level]string{}, groupIDs: map[string]string{}}
	for _, l := range servedLevels {
		st.levelIDs[l] = CollectionID(sc.FederationID, "level/"+l.Slug())
	}
	for _, g := range sc.Groups {
		st.groupIDs[g] = CollectionID(sc.FederationID, "group/"+g)
	}
	return st
}

// collection is a collection as one client sees it.
type collection struct {
	Collection
	level stix.Level // level collections
	group string     // group collections
	// levels are the levels the client reads in it (empty: not readable).
	levels []stix.Level
}

// mayRead reports whether a client reads level l at all.
func mayRead(c *Client, l stix.Level) bool {
	return l.Valid() && l <= c.MaxTLP && (l != stix.AmberStrict || c.InTeam)
}

// collectionsFor lists what client c sees: level collections it may read,
// then every group collection of the node (readable if c is in the group).
func (s *Server) collectionsFor(c *Client) []collection {
	sc := s.scope.Load()
	writable := c.Write && !sc.ReadOnly && s.pub != nil
	nodeMax := sc.MaxTLP
	if nodeMax == stix.LevelNone {
		nodeMax = stix.AmberStrict
	}
	var out []collection
	for _, l := range servedLevels {
		if l > nodeMax || !mayRead(c, l) {
			continue
		}
		out = append(out, collection{
			Collection: Collection{
				ID:          sc.levelIDs[l],
				Title:       "TLP:" + upper(l.String()),
				Description: "Objects shared with the whole federation at TLP:" + upper(l.String()),
				Alias:       LevelAlias(l),
				CanRead:     true,
				CanWrite:    writable,
				MediaTypes:  []string{STIXMediaType},
			},
			level:  l,
			levels: []stix.Level{l},
		})
	}
	for _, g := range sc.Groups {
		var levels []stix.Level
		if slices.Contains(c.Groups, g) {
			for _, l := range []stix.Level{stix.Green, stix.Amber} {
				if l <= nodeMax && mayRead(c, l) {
					levels = append(levels, l)
				}
			}
		}
		read := len(levels) > 0
		out = append(out, collection{
			Collection: Collection{
				ID:          sc.groupIDs[g],
				Title:       "Group " + g,
				Description: "Objects shared with group " + g + " (TLP:GREEN and TLP:AMBER)",
				Alias:       GroupAlias(g),
				CanRead:     read,
				CanWrite:    read && writable,
				MediaTypes:  []string{STIXMediaType},
			},
			group:  g,
			levels: levels,
		})
	}
	return out
}

// findCollection finds a collection by id or alias among those c sees.
func (s *Server) findCollection(c *Client, key string) (collection, bool) {
	for _, col := range s.collectionsFor(c) {
		if col.ID == key || col.Alias == key {
			return col, true
		}
	}
	return collection{}, false
}

// query is the ledger query that reads the collection with the client's
// rights, and keep the post-filter it needs.
func (col *collection) query() ledger.Query {
	q := ledger.Query{Levels: col.levels}
	if col.group != "" {
		q.Groups = []string{col.group}
	}
	return q
}

// keep drops what the ledger returns for a reader but is not in this
// collection: a group reader also sees ungrouped objects.
func (col *collection) keep(r *ledger.ObjectRecord) bool {
	if r.Group != col.group || !slices.Contains(col.levels, r.Level) {
		return false
	}
	return true
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
