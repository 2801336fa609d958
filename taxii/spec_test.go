package taxii

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// The resource types carry exactly the fields of the TAXII 2.1
// specification's examples: each example decodes strictly and encodes back
// to the same JSON.
func TestSpecExamples(t *testing.T) {
	for name, c := range map[string]struct {
		example string
		v       any
	}{
		"discovery":   {`{"title":"Some TAXII Server","description":"This TAXII Server contains a listing of","contact":"string containing contact information","default":"https://example.com/api2/","api_roots":["https://example.com/api1/","https://example.com/api2/","https://example.net/trustgroup1/"]}`, &Discovery{}},
		"api root":    {`{"title":"Malware Research Group","description":"A trust group setup for malware researchers","versions":["application/taxii+json;version=2.1"],"max_content_length":104857600}`, &APIRoot{}},
		"collections": {`{"collections":[{"id":"91a7b528-80eb-42ed-a74d-c6fbd5a26116","title":"High Value Indicator Collection","description":"This data collection contains high value IOCs","can_read":true,"can_write":false,"media_types":["application/stix+json;version=2.1"]},{"id":"52892447-4d7e-4f70-b94d-d7f22742ff63","title":"Indicators from the past 24-hours","description":"This data collection is for collecting current IOCs","alias":"indicators-24h","can_read":true,"can_write":false,"media_types":["application/stix+json;version=2.1"]}]}`, &Collections{}},
		"manifest":    {`{"more":true,"objects":[{"id":"indicator--29aba82c-5393-42a8-9edb-6a2cb1df070b","date_added":"2016-11-01T03:04:05Z","version":"2016-11-03T12:30:59.000Z","media_type":"application/stix+json;version=2.1"},{"id":"indicator--ef0b28e1-308c-4a30-8770-9b4851b260a5","date_added":"2016-11-01T10:29:05Z","version":"2016-11-03T12:30:59.000Z","media_type":"application/stix+json;version=2.1"}]}`, &Manifest{}},
		"versions":    {`{"more":false,"versions":["2016-01-01T01:01:01.000Z","2017-01-01T01:01:01.000Z"]}`, &Versions{}},
		"status":      {`{"id":"2d086da7-4bdc-4f91-900e-d77486753710","status":"pending","request_timestamp":"2016-11-02T12:34:34.123456Z","total_count":4,"success_count":1,"successes":[{"id":"indicator--cd981c25-8042-4166-8945-51178443bdac","version":"2014-05-08T09:00:00.000Z"}],"failure_count":1,"failures":[{"id":"malware--664fa29d-bf65-4f28-a667-bdb76f29ec98","version":"2015-05-08T09:00:00.000Z","message":"Unable to process object"}],"pending_count":2,"pendings":[{"id":"indicator--252c7c11-daf2-42bd-843b-be65edca9f61","version":"2016-08-08T09:00:00.000Z"},{"id":"relationship--045585ad-a22f-4333-af33-bfd503a683b5","version":"2016-06-08T09:00:00.000Z"}]}`, &Status{}},
		"error":       {`{"title":"Error condition XYZ","description":"This error is caused when the application tries to access data...","error_id":"1234","error_code":"581234","http_status":"409","external_details":"http://example.com/ticketnumber1/errors/6543","details":{"somekey1":"somevalue","somekey2":"some other value"}}`, &Error{}},
	} {
		dec := json.NewDecoder(bytes.NewReader([]byte(c.example)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c.v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		json.Unmarshal([]byte(c.example), &a)
		json.Unmarshal(out, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: round trip\n got %s\nwant %s", name, out, c.example)
		}
	}
}
