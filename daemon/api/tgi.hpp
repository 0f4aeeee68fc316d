// The TGI token-event shape, shared by TGI's /generate_stream and MindIE's native /infer (which
// streams the same events plus its own prefill/decode times). Private header of daemon/api.
#pragma once

#include <boost/json/object.hpp>

#include "llmprobe/api/flavor.hpp"

namespace llmprobe::tgi {

// Decodes one event {"token": {...}, "generated_text": ..., "details": ...}. Content is a token
// that is not special and has text (or, as MindIE's last event, a token whose text is null but
// whose id is set); the event carrying details or generated_text is the last; details give the
// usage; MindIE's prefill_time / decode_time (milliseconds) give the server timings.
DecodedEvent decode_token_event(const boost::json::object& event);

}  // namespace llmprobe::tgi
