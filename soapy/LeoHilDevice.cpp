// SoapySDR module "leohil": the leo-hil channel emulator as a SoapySDR device.
//
// One device = one transmitter and one receiver on the emulator's framed wire (docs/wire.md):
// TX samples go as framed messages (80-byte little-endian header + cf32) on a ZeroMQ PUSH socket that
// connects to an emulator `pull` input; RX samples come from a ZeroMQ PULL socket that connects to an
// emulator `push` output. The emulator's clock is the sample count, so hardware time is
//     timeNs = sample_index * 1e9 / rate + offset     (offset set by setHardwareTime, default 0)
// and timed TX bursts (SOAPY_SDR_HAS_TIME) go out with that sample index in the header.
//
// Stream semantics (SoapySDR/Errors.h):
//   readStream   HAS_TIME on every call; END_BURST on the last samples of an emulator burst (frame
//                flag END_OF_BURST); OVERFLOW (-4) once when samples were lost (a jump of the sample
//                index or of the sequence number not preceded by END_OF_BURST: silence between bursts
//                is skipped, not lost), the next call resumes with the new time; TIMEOUT (-1);
//                CORRUPTION (-3) for a malformed frame (dropped).
//   writeStream  HAS_TIME places the first sample; without it samples follow the previous ones.
//                A time before the next free TX sample: TIME_ERROR (-6), nothing sent. END_BURST marks
//                the last message (emulator flushes the channel tail). TIMEOUT when the emulator does not
//                take the message within timeoutUs (back-pressure through the ZeroMQ high-water mark).
//   readStreamStatus (TX)  UNDERFLOW (-7) with the time of the first missing sample when a timed write
//                leaves a gap inside a burst (the stream ran dry before END_BURST); TIMEOUT when nothing
//                happened.
// The emulator's clock is the transmitter's sample count: RX delivers what the link made of the TX
// samples; with fill=1 (default) an idle transmitter sends zeros as a read needs them (see fill_idle).
//
// Device arguments: tx=, rx= (ZeroMQ addresses; default tcp://127.0.0.1:5720 / :5721, the shipped
// scenarios/emulator/soapy_loopback.yaml), control= (the emulator's status REP socket, default
// tcp://127.0.0.1:5722: discovery and the sample rate), rate= (when there is no control socket),
// hwm= (ZeroMQ high-water mark, messages), mtu= (samples per TX message and per RX read), fill=0|1
// (default 1: while the transmitter is idle a read sends the zeros the emulator needs, so RX runs like a
// radio's receiver and hears the channel's noise; 0: RX delivers only what was transmitted).
// Environment: LEOHIL_TX, LEOHIL_RX, LEOHIL_CONTROL replace the defaults.
//
// Built by scripts/build_soapy_module (a plain g++ line against Debian's libsoapysdr-dev and libzmq).

#include <SoapySDR/Device.hpp>
#include <SoapySDR/Formats.hpp>
#include <SoapySDR/Logger.hpp>
#include <SoapySDR/Registry.hpp>
#include <SoapySDR/Time.hpp>
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the framed wire is little-endian; this build assumes a LE host");

namespace {

using SoapySDR::Stream;

// ---------------------------------------------------------------------------------------- the wire
constexpr size_t HEADER_LEN = 80;
constexpr uint16_t WIRE_VERSION = 1;
constexpr uint16_t FORMAT_CF32 = 1;
constexpr uint32_t FLAG_DISCONTINUITY = 1, FLAG_NOT_VISIBLE = 2, FLAG_RESTART = 4, FLAG_END_OF_BURST = 8;

struct Header {
    uint32_t flags = 0, stream_id = 0, n_samples = 0;
    uint64_t seq = 0, sample_index = 0;
    double sample_rate_hz = 0, center_freq_hz = 0, delay_s = 0, doppler_hz = 0, gain_db = 0;
};

template <typename T> void put(uint8_t *p, size_t off, T v) { std::memcpy(p + off, &v, sizeof v); }
template <typename T> T get(const uint8_t *p, size_t off) { T v; std::memcpy(&v, p + off, sizeof v); return v; }

void encode_header(uint8_t *p, const Header &h) {
    std::memcpy(p, "LHIQ", 4);
    put<uint16_t>(p, 4, WIRE_VERSION);
    put<uint16_t>(p, 6, HEADER_LEN);
    put<uint32_t>(p, 8, h.flags);
    put<uint32_t>(p, 12, h.stream_id);
    put<uint64_t>(p, 16, h.seq);
    put<uint64_t>(p, 24, h.sample_index);
    put<uint32_t>(p, 32, h.n_samples);
    put<uint16_t>(p, 36, FORMAT_CF32);
    put<uint16_t>(p, 38, 0);
    put<double>(p, 40, h.sample_rate_hz);
    put<double>(p, 48, h.center_freq_hz);
    put<double>(p, 56, h.delay_s);
    put<double>(p, 64, h.doppler_hz);
    put<double>(p, 72, h.gain_db);
}

// Returns "" if the message is a valid frame, else the reason (docs/wire.md's reasons).
std::string decode_header(const uint8_t *p, size_t n, Header &h) {
    if (n < HEADER_LEN) return "short";
    if (std::memcmp(p, "LHIQ", 4) != 0) return "magic";
    if (get<uint16_t>(p, 4) != WIRE_VERSION) return "version";
    if (get<uint16_t>(p, 6) != HEADER_LEN) return "header_len";
    if (get<uint16_t>(p, 36) != FORMAT_CF32) return "format";
    h.flags = get<uint32_t>(p, 8);
    h.stream_id = get<uint32_t>(p, 12);
    h.seq = get<uint64_t>(p, 16);
    h.sample_index = get<uint64_t>(p, 24);
    h.n_samples = get<uint32_t>(p, 32);
    h.sample_rate_hz = get<double>(p, 40);
    h.center_freq_hz = get<double>(p, 48);
    h.delay_s = get<double>(p, 56);
    h.doppler_hz = get<double>(p, 64);
    h.gain_db = get<double>(p, 72);
    if (n != HEADER_LEN + 8ull * h.n_samples) return "length";
    if (!std::isfinite(h.sample_rate_hz) || !std::isfinite(h.center_freq_hz)) return "value";
    return "";
}

// ------------------------------------------------------------------------------- helpers
std::string arg_or_env(const SoapySDR::Kwargs &args, const char *key, const char *env, const char *dflt) {
    auto it = args.find(key);
    if (it != args.end()) return it->second;
    const char *e = std::getenv(env);
    return (e && *e) ? std::string(e) : std::string(dflt);
}

std::string range_text(double lo, double hi, const char *unit) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%g..%g %s", lo, hi, unit);
    return buf;
}

[[noreturn]] void bad_value(const std::string &field, double value, const std::string &allowed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    throw std::invalid_argument("leohil: " + field + ": got " + buf + "; allowed: " + allowed);
}

// The emulator's JSON status (control socket), or "" when nothing answers within timeout_ms.
std::string query_status(void *ctx, const std::string &address, int timeout_ms) {
    if (address.empty()) return "";
    void *s = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    std::string out;
    if (zmq_connect(s, address.c_str()) == 0 && zmq_send(s, "status", 6, 0) == 6) {
        zmq_pollitem_t item{s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) == 1) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            int n = zmq_msg_recv(&m, s, 0);
            if (n > 0) out.assign(static_cast<const char *>(zmq_msg_data(&m)), n);
            zmq_msg_close(&m);
        }
    }
    zmq_close(s);
    return out;
}

struct EndpointInfo { std::string name, address, pattern, wire; bool bind; };

// Endpoints of a status document ("name": {"address": ..., "pattern": ..., "wire": ..., "bind": ...}).
std::vector<EndpointInfo> parse_endpoints(const std::string &status) {
    std::vector<EndpointInfo> out;
    static const std::regex re(
        "\"([^\"]+)\"\\s*:\\s*\\{\\s*\"address\"\\s*:\\s*\"([^\"]+)\"\\s*,\\s*\"pattern\"\\s*:\\s*\"(\\w+)\"\\s*,"
        "\\s*\"wire\"\\s*:\\s*\"(\\w+)\"\\s*,\\s*\"bind\"\\s*:\\s*(true|false)");
    for (auto it = std::sregex_iterator(status.begin(), status.end(), re); it != std::sregex_iterator(); ++it)
        out.push_back({(*it)[1], (*it)[2], (*it)[3], (*it)[4], (*it)[5] == "true"});
    return out;
}

double parse_number(const std::string &status, const char *key) {
    std::smatch m;
    std::regex re(std::string("\"") + key + "\"\\s*:\\s*([-+0-9.eE]+)");
    return std::regex_search(status, m, re) ? std::atof(m[1].str().c_str()) : 0.0;
}

std::string parse_string(const std::string &status, const char *key) {
    std::smatch m;
    std::regex re(std::string("\"") + key + "\"\\s*:\\s*\"([^\"]*)\"");
    return std::regex_search(status, m, re) ? m[1].str() : std::string();
}

// -------------------------------------------------------------------------------- streams
// RX and TX streams share SoapySDR's opaque Stream* type; the base says which one it is.
struct StreamBase {
    explicit StreamBase(bool is_rx) : rx(is_rx) {}
    const bool rx;
};

struct RxStream : StreamBase {
    RxStream() : StreamBase(true) {}
    void *sock = nullptr;
    bool active = false;
    std::vector<uint8_t> frame;   // the current frame (header + payload)
    Header hdr;
    size_t pos = 0, count = 0;    // samples of the current frame already delivered / in it
    bool have_expect = false;
    uint64_t expect_index = 0, expect_seq = 0;
    bool after_eob = true;        // the previous frame closed a burst: an index jump is skipped silence
    bool overflow_pending = false;
    uint64_t overflows = 0, bad_frames = 0, old_frames = 0;
};

struct TxStatus { int code; long long timeNs; };

struct TxStream : StreamBase {
    TxStream() : StreamBase(false) {}
    void *sock = nullptr;
    bool active = false;
    uint64_t seq = 0, next_index = 0;
    bool in_burst = false, started = false;
    std::deque<TxStatus> status;
    std::vector<uint8_t> msg;
};

// ---------------------------------------------------------------------------------- device
class LeoHilDevice : public SoapySDR::Device {
public:
    explicit LeoHilDevice(const SoapySDR::Kwargs &args) {
        _ctx = zmq_ctx_new();
        _tx_addr = arg_or_env(args, "tx", "LEOHIL_TX", "tcp://127.0.0.1:5720");
        _rx_addr = arg_or_env(args, "rx", "LEOHIL_RX", "tcp://127.0.0.1:5721");
        _control = arg_or_env(args, "control", "LEOHIL_CONTROL", "tcp://127.0.0.1:5722");
        if (args.count("hwm")) _hwm = std::max(1, std::atoi(args.at("hwm").c_str()));
        if (args.count("mtu")) _mtu = std::max<size_t>(16, std::strtoul(args.at("mtu").c_str(), nullptr, 10));
        if (args.count("fill")) _fill = args.at("fill") != "0";
        const std::string st = query_status(_ctx, _control, 1500);
        if (!st.empty()) {
            _emu_rate = parse_number(st, "sample_rate_hz");
            _emu_name = parse_string(st, "name");
        }
        if (args.count("rate")) {
            double r = std::atof(args.at("rate").c_str());
            if (!(r > 0)) bad_value("rate", r, "a sample rate > 0 Hz");
            if (_emu_rate > 0 && std::abs(r - _emu_rate) > 1e-6 * _emu_rate)
                bad_value("rate", r, "the emulator's sample rate " + std::to_string(_emu_rate) + " Hz");
            _rate = r;
        } else if (_emu_rate > 0) {
            _rate = _emu_rate;
        }
        SoapySDR::logf(SOAPY_SDR_INFO, "leohil: tx %s, rx %s, %s, %g S/s", _tx_addr.c_str(), _rx_addr.c_str(),
                       _emu_name.empty() ? "no control socket answered" : ("emulator '" + _emu_name + "'").c_str(),
                       _rate);
    }

    ~LeoHilDevice() override {
        if (_filler.sock) {
            int zero = 0;
            zmq_setsockopt(_filler.sock, ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(_filler.sock);
        }
        zmq_ctx_term(_ctx);
    }

    // -- identification
    std::string getDriverKey() const override { return "leohil"; }
    std::string getHardwareKey() const override { return "leo-hil emulator"; }
    SoapySDR::Kwargs getHardwareInfo() const override {
        return {{"tx", _tx_addr}, {"rx", _rx_addr}, {"control", _control},
                {"emulator", _emu_name.empty() ? "unknown (no control socket)" : _emu_name},
                {"serial", _emu_name.empty() ? _rx_addr : _emu_name}, {"wire", "framed v1 (docs/wire.md)"}};
    }

    // -- channels
    size_t getNumChannels(const int) const override { return 1; }
    bool getFullDuplex(const int, const size_t) const override { return true; }
    std::vector<std::string> listAntennas(const int dir, const size_t) const override {
        return {dir == SOAPY_SDR_TX ? "TX" : "RX"};
    }
    void setAntenna(const int dir, const size_t ch, const std::string &name) override {
        check_channel(ch);
        const std::string only = dir == SOAPY_SDR_TX ? "TX" : "RX";
        if (name != only) throw std::invalid_argument("leohil: antenna: got '" + name + "'; allowed: '" + only + "'");
    }
    std::string getAntenna(const int dir, const size_t) const override { return dir == SOAPY_SDR_TX ? "TX" : "RX"; }

    // -- gains: a digital scale applied in this module (RX 0..60 dB, TX -90..0 dB attenuation)
    std::vector<std::string> listGains(const int, const size_t) const override { return {"DIG"}; }
    bool hasGainMode(const int, const size_t) const override { return false; }
    SoapySDR::Range getGainRange(const int dir, const size_t) const override {
        return dir == SOAPY_SDR_TX ? SoapySDR::Range(-90.0, 0.0, 0.25) : SoapySDR::Range(0.0, 60.0, 0.25);
    }
    SoapySDR::Range getGainRange(const int dir, const size_t ch, const std::string &) const override {
        return getGainRange(dir, ch);
    }
    void setGain(const int dir, const size_t ch, const double value) override {
        check_channel(ch);
        auto r = getGainRange(dir, ch);
        if (!(value >= r.minimum() - 1e-9 && value <= r.maximum() + 1e-9))
            bad_value(dir == SOAPY_SDR_TX ? "tx gain" : "rx gain", value, range_text(r.minimum(), r.maximum(), "dB"));
        std::lock_guard<std::mutex> lock(_mutex);
        (dir == SOAPY_SDR_TX ? _tx_gain : _rx_gain) = std::round(value * 4.0) / 4.0;
    }
    void setGain(const int dir, const size_t ch, const std::string &name, const double value) override {
        if (name != "DIG") throw std::invalid_argument("leohil: gain element: got '" + name + "'; allowed: 'DIG'");
        setGain(dir, ch, value);
    }
    double getGain(const int dir, const size_t) const override { return dir == SOAPY_SDR_TX ? _tx_gain : _rx_gain; }
    double getGain(const int dir, const size_t ch, const std::string &) const override { return getGain(dir, ch); }

    // -- frequency: carried in the TX header; the emulator's link carrier sets the Doppler
    std::vector<std::string> listFrequencies(const int, const size_t) const override { return {"RF"}; }
    SoapySDR::RangeList getFrequencyRange(const int, const size_t) const override { return {SoapySDR::Range(0.0, 100e9)}; }
    SoapySDR::RangeList getFrequencyRange(const int d, const size_t c, const std::string &) const override {
        return getFrequencyRange(d, c);
    }
    void setFrequency(const int dir, const size_t ch, const double f, const SoapySDR::Kwargs &) override {
        check_channel(ch);
        if (!(f >= 0.0 && f <= 100e9)) bad_value("frequency", f, range_text(0, 100e9, "Hz"));
        (dir == SOAPY_SDR_TX ? _tx_freq : _rx_freq) = f;
    }
    void setFrequency(const int dir, const size_t ch, const std::string &name, const double f,
                      const SoapySDR::Kwargs &args) override {
        if (name != "RF") throw std::invalid_argument("leohil: frequency element: got '" + name + "'; allowed: 'RF'");
        setFrequency(dir, ch, f, args);
    }
    double getFrequency(const int dir, const size_t) const override { return dir == SOAPY_SDR_TX ? _tx_freq : _rx_freq; }
    double getFrequency(const int dir, const size_t ch, const std::string &) const override { return getFrequency(dir, ch); }

    // -- sample rate: the emulator's (one clock for every link); any rate when it is not known
    void setSampleRate(const int, const size_t ch, const double rate) override {
        check_channel(ch);
        if (_emu_rate > 0) {
            if (std::abs(rate - _emu_rate) > 1e-6 * _emu_rate)
                bad_value("sample rate", rate, "the emulator's " + std::to_string(_emu_rate) + " S/s");
        } else if (!(rate >= 1e3 && rate <= 250e6)) {
            bad_value("sample rate", rate, range_text(1e3, 250e6, "S/s"));
        }
        _rate = rate;
    }
    double getSampleRate(const int, const size_t) const override { return _rate; }
    std::vector<double> listSampleRates(const int, const size_t) const override {
        return _emu_rate > 0 ? std::vector<double>{_emu_rate} : std::vector<double>{250e3, 1e6, 1.92e6, 5e6, 10e6};
    }
    SoapySDR::RangeList getSampleRateRange(const int, const size_t) const override {
        if (_emu_rate > 0) return {SoapySDR::Range(_emu_rate, _emu_rate)};
        return {SoapySDR::Range(1e3, 250e6)};
    }
    void setBandwidth(const int dir, const size_t ch, const double bw) override {
        check_channel(ch);
        if (!(bw > 0 && bw <= _rate)) bad_value("bandwidth", bw, range_text(0, _rate, "Hz (the sample rate)"));
        (dir == SOAPY_SDR_TX ? _tx_bw : _rx_bw) = bw;
    }
    double getBandwidth(const int dir, const size_t) const override {
        double b = dir == SOAPY_SDR_TX ? _tx_bw : _rx_bw;
        return b > 0 ? b : _rate;
    }
    SoapySDR::RangeList getBandwidthRange(const int, const size_t) const override { return {SoapySDR::Range(1.0, _rate)}; }

    // -- time: the sample count
    bool hasHardwareTime(const std::string &what) const override { return what.empty(); }
    long long getHardwareTime(const std::string &) const override {
        std::lock_guard<std::mutex> lock(_mutex);
        return index_to_ns(_now_index);
    }
    void setHardwareTime(const long long timeNs, const std::string &) override {
        std::lock_guard<std::mutex> lock(_mutex);
        _offset_ns = timeNs - static_cast<long long>(std::llround(static_cast<double>(_now_index) * 1e9 / _rate));
    }

    // -- sensors: what the emulator says it applied to the latest RX frame (the truth, for checks)
    std::vector<std::string> listSensors(const int dir, const size_t) const override {
        if (dir == SOAPY_SDR_TX) return {};
        return {"doppler_hz", "delay_s", "channel_gain_db", "visible", "overflows", "bad_frames"};
    }
    std::string readSensor(const int dir, const size_t, const std::string &key) const override {
        std::lock_guard<std::mutex> lock(_mutex);
        char buf[64];
        if (dir == SOAPY_SDR_RX && key == "doppler_hz") std::snprintf(buf, sizeof buf, "%.6f", _last_rx.doppler_hz);
        else if (dir == SOAPY_SDR_RX && key == "delay_s") std::snprintf(buf, sizeof buf, "%.12e", _last_rx.delay_s);
        else if (dir == SOAPY_SDR_RX && key == "channel_gain_db") std::snprintf(buf, sizeof buf, "%.4f", _last_rx.gain_db);
        else if (dir == SOAPY_SDR_RX && key == "visible")
            return (_last_rx.flags & FLAG_NOT_VISIBLE) ? "false" : "true";
        else if (dir == SOAPY_SDR_RX && key == "overflows") return std::to_string(_rx_overflows);
        else if (dir == SOAPY_SDR_RX && key == "bad_frames") return std::to_string(_rx_bad);
        else throw std::invalid_argument("leohil: sensor: got '" + key + "'; allowed: doppler_hz, delay_s, "
                                         "channel_gain_db, visible, overflows, bad_frames (RX)");
        return buf;
    }

    // -- streams
    std::vector<std::string> getStreamFormats(const int, const size_t) const override { return {SOAPY_SDR_CF32}; }
    std::string getNativeStreamFormat(const int, const size_t, double &fullScale) const override {
        fullScale = 1.0;
        return SOAPY_SDR_CF32;
    }

    Stream *setupStream(const int dir, const std::string &format, const std::vector<size_t> &channels,
                        const SoapySDR::Kwargs &) override {
        if (format != SOAPY_SDR_CF32)
            throw std::invalid_argument("leohil: stream format: got '" + format + "'; allowed: 'CF32'");
        if (channels.size() > 1 || (channels.size() == 1 && channels[0] != 0))
            throw std::invalid_argument("leohil: stream channels: allowed: [0] (one channel per direction)");
        if (dir == SOAPY_SDR_RX) return reinterpret_cast<Stream *>(static_cast<StreamBase *>(new RxStream()));
        if (dir == SOAPY_SDR_TX) return reinterpret_cast<Stream *>(static_cast<StreamBase *>(new TxStream()));
        throw std::invalid_argument("leohil: stream direction must be SOAPY_SDR_RX or SOAPY_SDR_TX");
    }

    void closeStream(Stream *stream) override {
        deactivateStream(stream, 0, 0);
        if (is_rx(stream)) delete as_rx(stream);
        else delete as_tx(stream);
    }

    size_t getStreamMTU(Stream *) const override { return _mtu; }

    int activateStream(Stream *stream, const int flags, const long long, const size_t numElems) override {
        if (flags != 0 || numElems != 0) return SOAPY_SDR_NOT_SUPPORTED;  // no timed activation / finite bursts
        std::lock_guard<std::mutex> io(_tx_io);
        std::lock_guard<std::mutex> lock(_mutex);
        if (is_rx(stream)) {
            RxStream *s = as_rx(stream);
            if (s->active) return 0;
            s->sock = open_socket(ZMQ_PULL, _rx_addr);
            if (!s->sock) return SOAPY_SDR_STREAM_ERROR;
            s->active = true;
        } else {
            TxStream *s = as_tx(stream);
            if (s->active) return 0;
            if (_filler.sock) {   // the idle filler's socket and sequence carry on: one stream for the emulator
                std::swap(s->sock, _filler.sock);
                s->seq = _filler.seq;
                s->next_index = _filler.next_index;
                s->started = _filler.started;
            } else {
                s->sock = open_socket(ZMQ_PUSH, _tx_addr);
            }
            if (!s->sock) return SOAPY_SDR_STREAM_ERROR;
            s->active = true;
            _active_tx = s;
        }
        return 0;
    }

    int deactivateStream(Stream *stream, const int flags, const long long) override {
        if (flags != 0) return SOAPY_SDR_NOT_SUPPORTED;
        std::lock_guard<std::mutex> io(_tx_io);
        std::lock_guard<std::mutex> lock(_mutex);
        void **sock = is_rx(stream) ? &as_rx(stream)->sock : &as_tx(stream)->sock;
        if (*sock) {
            // TX: give queued messages a moment to leave; RX: drop what is queued.
            int linger = is_rx(stream) ? 0 : 2000;
            zmq_setsockopt(*sock, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(*sock);
            *sock = nullptr;
        }
        if (is_rx(stream)) as_rx(stream)->active = false;
        else {
            TxStream *t = as_tx(stream);
            t->active = false;
            if (_active_tx == t) {   // the filler continues this transmitter's timeline
                _active_tx = nullptr;
                _filler.seq = t->seq;
                _filler.next_index = t->next_index;
                _filler.started = t->started;
                _filler.in_burst = false;
            }
        }
        return 0;
    }

    int readStream(Stream *stream, void *const *buffs, const size_t numElems, int &flags, long long &timeNs,
                   const long timeoutUs) override {
        flags = 0;
        if (!is_rx(stream)) return SOAPY_SDR_NOT_SUPPORTED;
        RxStream *s = as_rx(stream);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(std::max(0L, timeoutUs));
        while (true) {
            if (s->pos < s->count) {
                if (s->overflow_pending) {
                    s->overflow_pending = false;
                    return SOAPY_SDR_OVERFLOW;
                }
                return deliver(s, static_cast<std::complex<float> *>(buffs[0]), numElems, flags, timeNs);
            }
            if (!s->active) {
                sleep_until(deadline);
                return SOAPY_SDR_TIMEOUT;
            }
            if (_fill) fill_idle(s->have_expect ? s->expect_index : 0, numElems);
            long left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()).count();
            zmq_pollitem_t item{s->sock, 0, ZMQ_POLLIN, 0};
            int rc = zmq_poll(&item, 1, std::max(0L, left_ms));
            if (rc < 0) return SOAPY_SDR_STREAM_ERROR;
            if (rc == 0) return SOAPY_SDR_TIMEOUT;
            zmq_msg_t m;
            zmq_msg_init(&m);
            int n = zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT);
            if (n < 0) {
                zmq_msg_close(&m);
                continue;
            }
            const uint8_t *p = static_cast<const uint8_t *>(zmq_msg_data(&m));
            Header h;
            std::string why = decode_header(p, static_cast<size_t>(n), h);
            if (!why.empty()) {
                zmq_msg_close(&m);
                ++s->bad_frames;
                {
                    std::lock_guard<std::mutex> lock(_mutex);
                    ++_rx_bad;
                }
                SoapySDR::logf(SOAPY_SDR_WARNING, "leohil: dropped a bad RX frame (%s)", why.c_str());
                return SOAPY_SDR_CORRUPTION;
            }
            if (s->have_expect && h.sample_index < s->expect_index) {  // duplicate / out of order: drop
                zmq_msg_close(&m);
                ++s->old_frames;
                continue;
            }
            const bool jump = s->have_expect && (h.sample_index > s->expect_index || h.seq != s->expect_seq);
            if (jump && !s->after_eob) {
                s->overflow_pending = true;   // samples lost: say so once, then resume at the new time
                ++s->overflows;
                std::lock_guard<std::mutex> lock(_mutex);
                ++_rx_overflows;
            }
            s->frame.assign(p, p + n);
            zmq_msg_close(&m);
            s->hdr = h;
            s->pos = 0;
            s->count = h.n_samples;
            s->have_expect = true;
            s->expect_index = h.sample_index + h.n_samples;
            s->expect_seq = h.seq + 1;
            s->after_eob = (h.flags & FLAG_END_OF_BURST) != 0;
            std::lock_guard<std::mutex> lock(_mutex);
            _last_rx = h;
            if (!(_rate > 0) && h.sample_rate_hz > 0) _rate = h.sample_rate_hz;
        }
    }

    int writeStream(Stream *stream, const void *const *buffs, const size_t numElems, int &flags,
                    const long long timeNs, const long timeoutUs) override {
        if (is_rx(stream)) return SOAPY_SDR_NOT_SUPPORTED;
        std::lock_guard<std::mutex> io(_tx_io);   // the RX thread's idle filler shares this socket
        TxStream *s = as_tx(stream);
        if (!s->active) return SOAPY_SDR_STREAM_ERROR;
        const bool timed = (flags & SOAPY_SDR_HAS_TIME) != 0;
        const bool eob = (flags & SOAPY_SDR_END_BURST) != 0;
        uint64_t index = s->next_index;
        if (timed) {
            const long long want = ns_to_index(timeNs);
            if (want < 0 || (s->started && static_cast<uint64_t>(want) < s->next_index))
                return SOAPY_SDR_TIME_ERROR;   // late: before the next free TX sample (reported here, once)
            index = static_cast<uint64_t>(want);
            if (s->in_burst && index > s->next_index) {   // the burst ran dry before END_BURST
                std::lock_guard<std::mutex> lock(_mutex);
                s->status.push_back({SOAPY_SDR_UNDERFLOW, index_to_ns(s->next_index)});
            }
        }
        const size_t n = std::min(numElems, _mtu);
        const bool last = eob && n == numElems;
        Header h;
        h.flags = last ? FLAG_END_OF_BURST : 0;
        h.seq = s->seq;
        h.sample_index = index;
        h.n_samples = static_cast<uint32_t>(n);
        h.sample_rate_hz = _rate;
        h.center_freq_hz = _tx_freq;
        s->msg.resize(HEADER_LEN + 8 * n);
        encode_header(s->msg.data(), h);
        const float g = static_cast<float>(std::pow(10.0, _tx_gain / 20.0));
        const std::complex<float> *x = static_cast<const std::complex<float> *>(buffs[0]);
        std::complex<float> *out = reinterpret_cast<std::complex<float> *>(s->msg.data() + HEADER_LEN);
        for (size_t i = 0; i < n; ++i) out[i] = x[i] * g;
        zmq_pollitem_t item{s->sock, 0, ZMQ_POLLOUT, 0};
        int rc = zmq_poll(&item, 1, std::max(0L, timeoutUs / 1000));
        if (rc < 0) return SOAPY_SDR_STREAM_ERROR;
        if (rc == 0 || zmq_send(s->sock, s->msg.data(), s->msg.size(), ZMQ_DONTWAIT) < 0) return SOAPY_SDR_TIMEOUT;
        s->seq++;
        s->started = true;
        s->next_index = index + n;
        s->in_burst = !last;
        flags = last ? SOAPY_SDR_END_BURST : 0;
        return static_cast<int>(n);
    }

    int readStreamStatus(Stream *stream, size_t &chanMask, int &flags, long long &timeNs, const long timeoutUs) override {
        if (is_rx(stream)) return SOAPY_SDR_NOT_SUPPORTED;
        TxStream *s = as_tx(stream);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(std::max(0L, timeoutUs));
        while (true) {
            {
                std::lock_guard<std::mutex> lock(_mutex);
                if (!s->status.empty()) {
                    TxStatus st = s->status.front();
                    s->status.pop_front();
                    chanMask = 1;
                    flags = SOAPY_SDR_HAS_TIME;
                    timeNs = st.timeNs;
                    return st.code;
                }
            }
            if (std::chrono::steady_clock::now() >= deadline) return SOAPY_SDR_TIMEOUT;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

private:
    // A real radio's receiver runs whether or not anything is transmitted; the emulator's clock is the
    // transmitter's sample count. So while the transmitter is idle (no stream, or between bursts), a read
    // sends the zeros the emulator needs to produce the samples asked for (plus the channel's delay:
    // fill_lead_s), as the DAC plays zeros - the receiver then hears the channel's noise. fill=0 turns
    // this off (RX then delivers only what was transmitted).
    void fill_idle(uint64_t rx_index, size_t numElems) {
        // The application's writeStream runs on another thread on the same socket and sequence: while it
        // holds the TX lock it is transmitting, so there is nothing to fill.
        std::unique_lock<std::mutex> io(_tx_io, std::try_to_lock);
        if (!io.owns_lock()) return;
        TxStream *t = _active_tx ? _active_tx : &_filler;
        if (t->in_burst) return;                        // the application is streaming: wait for it
        if (!t->sock) {
            t->sock = open_socket(ZMQ_PUSH, _tx_addr);
            if (!t->sock) return;
        }
        const uint64_t want = rx_index + numElems + static_cast<uint64_t>(_fill_lead_s * _rate);
        while (t->next_index < want) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(_mtu, want - t->next_index));
            Header h;
            h.seq = t->seq;
            h.sample_index = t->next_index;
            h.n_samples = static_cast<uint32_t>(n);
            h.sample_rate_hz = _rate;
            h.center_freq_hz = _tx_freq;
            t->msg.assign(HEADER_LEN + 8 * n, 0);   // zero samples
            encode_header(t->msg.data(), h);
            if (zmq_send(t->sock, t->msg.data(), t->msg.size(), ZMQ_DONTWAIT) < 0) return;  // back-pressure
            t->seq++;
            t->started = true;
            t->next_index += n;
        }
    }

    static StreamBase *base(Stream *s) { return reinterpret_cast<StreamBase *>(s); }
    static bool is_rx(Stream *s) { return base(s)->rx; }
    static RxStream *as_rx(Stream *s) { return static_cast<RxStream *>(base(s)); }
    static TxStream *as_tx(Stream *s) { return static_cast<TxStream *>(base(s)); }

    static void sleep_until(std::chrono::steady_clock::time_point t) {
        if (t > std::chrono::steady_clock::now()) std::this_thread::sleep_until(t);
    }

    void check_channel(size_t ch) const {
        if (ch != 0) bad_value("channel", static_cast<double>(ch), "0");
    }

    void *open_socket(int type, const std::string &addr) {
        void *s = zmq_socket(_ctx, type);
        int linger = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(s, type == ZMQ_PUSH ? ZMQ_SNDHWM : ZMQ_RCVHWM, &_hwm, sizeof _hwm);
        if (zmq_connect(s, addr.c_str()) != 0) {
            SoapySDR::logf(SOAPY_SDR_ERROR, "leohil: cannot connect to %s: %s", addr.c_str(), zmq_strerror(zmq_errno()));
            zmq_close(s);
            return nullptr;
        }
        return s;
    }

    int deliver(RxStream *s, std::complex<float> *out, size_t numElems, int &flags, long long &timeNs) {
        const size_t k = std::min(numElems, s->count - s->pos);
        const std::complex<float> *x =
            reinterpret_cast<const std::complex<float> *>(s->frame.data() + HEADER_LEN) + s->pos;
        const float g = static_cast<float>(std::pow(10.0, _rx_gain / 20.0));
        for (size_t i = 0; i < k; ++i) out[i] = x[i] * g;
        const uint64_t index = s->hdr.sample_index + s->pos;
        s->pos += k;
        flags = SOAPY_SDR_HAS_TIME;
        if (s->pos == s->count && (s->hdr.flags & FLAG_END_OF_BURST)) flags |= SOAPY_SDR_END_BURST;
        std::lock_guard<std::mutex> lock(_mutex);
        timeNs = index_to_ns(index);
        _now_index = index + k;
        return static_cast<int>(k);
    }

    long long index_to_ns(uint64_t index) const {
        return _offset_ns + static_cast<long long>(std::llround(static_cast<double>(index) * 1e9 / _rate));
    }
    long long ns_to_index(long long ns) const {
        return std::llround(static_cast<double>(ns - _offset_ns) * _rate / 1e9);
    }

    void *_ctx = nullptr;
    std::string _tx_addr, _rx_addr, _control, _emu_name;
    double _emu_rate = 0, _rate = 1e6;
    double _rx_freq = 2e9, _tx_freq = 2e9, _rx_gain = 0, _tx_gain = 0, _rx_bw = 0, _tx_bw = 0;
    int _hwm = 16;
    size_t _mtu = 4096;
    long long _offset_ns = 0;
    uint64_t _now_index = 0, _rx_overflows = 0, _rx_bad = 0;
    Header _last_rx;
    mutable std::mutex _mutex;
    std::mutex _tx_io;             // the TX socket, sequence and sample index; taken before _mutex
    bool _fill = true;
    double _fill_lead_s = 0.025;   // > the emulator's default max_delay_s (20 ms) of channel delay
    TxStream _filler;              // the transmitter while no TX stream is active
    TxStream *_active_tx = nullptr;
};

// ------------------------------------------------------------------------------- registration
// Discovery never scans: it asks the one control socket named by control= / LEOHIL_CONTROL (default
// tcp://127.0.0.1:5722) for the emulator's status. Every framed output endpoint the emulator binds
// (push) becomes one device; its TX is tx= if given, else the first framed input the emulator binds
// (pull). With tx= and rx= given and no control socket answering, the device is listed as given.
SoapySDR::KwargsList find_leohil(const SoapySDR::Kwargs &args) {
    SoapySDR::KwargsList out;
    if (args.count("driver") && args.at("driver") != "leohil") return out;
    void *ctx = zmq_ctx_new();
    const std::string control = arg_or_env(args, "control", "LEOHIL_CONTROL", "tcp://127.0.0.1:5722");
    // Named explicitly: wait long enough for a loaded machine; the default address: do not hold up a
    // plain `SoapySDRUtil --find` when no emulator runs.
    const bool named = args.count("control") || std::getenv("LEOHIL_CONTROL");
    const std::string st = query_status(ctx, control, named ? 1500 : 250);
    zmq_ctx_term(ctx);
    const bool have_tx = args.count("tx") || std::getenv("LEOHIL_TX");
    const bool have_rx = args.count("rx") || std::getenv("LEOHIL_RX");
    if (st.empty()) {
        if (have_tx && have_rx) {
            SoapySDR::Kwargs d{{"driver", "leohil"}, {"tx", arg_or_env(args, "tx", "LEOHIL_TX", "")},
                               {"rx", arg_or_env(args, "rx", "LEOHIL_RX", "")}};
            d["label"] = "leo-hil emulator (unverified: no control socket) " + d["rx"];
            out.push_back(d);
        }
        return out;
    }
    const std::string name = parse_string(st, "name");
    const double rate = parse_number(st, "sample_rate_hz");
    std::string first_in;
    std::vector<EndpointInfo> outs;
    for (const auto &e : parse_endpoints(st)) {
        if (e.wire != "framed" || !e.bind) continue;
        if (e.pattern == "pull" && first_in.empty()) first_in = e.address;
        if (e.pattern == "push") outs.push_back(e);
    }
    const std::string tx = have_tx ? arg_or_env(args, "tx", "LEOHIL_TX", "") : first_in;
    for (const auto &e : outs) {
        const std::string rx = e.address;
        if (have_rx && arg_or_env(args, "rx", "LEOHIL_RX", "") != rx) continue;
        if (tx.empty()) continue;
        char r[32];
        std::snprintf(r, sizeof r, "%.17g", rate);
        out.push_back({{"driver", "leohil"}, {"control", control}, {"tx", tx}, {"rx", rx}, {"serial", name + ":" + e.name},
                       {"label", "leo-hil emulator '" + name + "' " + e.name + " (" + r + " S/s)"}});
    }
    return out;
}

SoapySDR::Device *make_leohil(const SoapySDR::Kwargs &args) { return new LeoHilDevice(args); }

}  // namespace

static SoapySDR::Registry register_leohil("leohil", &find_leohil, &make_leohil, SOAPY_SDR_ABI_VERSION);
