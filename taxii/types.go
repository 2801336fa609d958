package taxii

// Media types.
const (
	// MediaType is the TAXII 2.1 media type of every response.
	MediaType = "application/taxii+json;version=2.1"
	// STIXMediaType is the one content type the collections hold.
	STIXMediaType = "application/stix+json;version=2.1"
)

// Discovery is the server discovery resource (GET /taxii2/).
type Discovery struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

// APIRoot is the API root information resource.
type APIRoot struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

// Collection is one collection resource.
type Collection struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

// Collections is the collections resource.
type Collections struct {
	Collections []Collection `json:"collections,omitempty"`
}

// ManifestRecord describes one object version in a manifest.
type ManifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type,omitempty"`
}

// Manifest is the manifest resource.
type Manifest struct {
	More    bool             `json:"more"`
	Next    string           `json:"next,omitempty"`
	Objects []ManifestRecord `json:"objects,omitempty"`
}

// Versions is the object versions resource.
type Versions struct {
	More     bool     `json:"more"`
	Next     string   `json:"next,omitempty"`
	Versions []string `json:"versions,omitempty"`
}

// Status values.
const (
	StatusComplete = "complete"
	StatusPending  = "pending"
)

// Status is a status resource: the outcome of one POST.
type Status struct {
	ID               string          `json:"id"`
	Status           string          `json:"status"`
	RequestTimestamp string          `json:"request_timestamp,omitempty"`
	TotalCount       int             `json:"total_count"`
	SuccessCount     int             `json:"success_count"`
	Successes        []StatusDetails `json:"successes,omitempty"`
	FailureCount     int             `json:"failure_count"`
	Failures         []StatusDetails `json:"failures,omitempty"`
	PendingCount     int             `json:"pending_count"`
	Pendings         []StatusDetails `json:"pendings,omitempty"`
}

// StatusDetails names one object of a POST. Version is the object's
// modified (or created) timestamp; empty when the object was too broken to
// have one. ID is "index:N" when the object had no valid id.
type StatusDetails struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}
