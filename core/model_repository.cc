#include "core/model_repository.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "core/strings.h"

namespace autoscale {

namespace fs = std::filesystem;

bool IsPlainModelName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;  // Triton's own configs are a few KiB
constexpr int kMaxDepth = 32;

bool IsVersionName(const std::string& s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---- Protobuf text format: a generic tree ------------------------------------------------------

struct PbNode;
struct PbValue {
  int line = 0, col = 0;
  bool quoted = false;            // a string literal
  std::string text;               // a scalar
  std::shared_ptr<PbNode> child;  // a message
};
struct PbNode {
  std::vector<std::pair<std::string, PbValue>> fields;
  std::vector<const PbValue*> All(const std::string& key) const {
    std::vector<const PbValue*> out;
    for (const auto& [k, v] : fields) {
      if (k == key) out.push_back(&v);
    }
    return out;
  }
};

class PbParser {
 public:
  PbParser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  Result<std::shared_ptr<PbNode>> Parse() {
    auto root = std::make_shared<PbNode>();
    RETURN_IF_ERROR(Message(*root, '\0', 0));
    return root;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument(file_ + ":" + std::to_string(line_) + ":" +
                                   std::to_string(col_) + ": " + what);
  }
  void Advance() {
    if (s_[i_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++i_;
  }
  void Skip() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') Advance();
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        Advance();
      } else {
        return;
      }
    }
  }
  bool Peek(char c) {
    Skip();
    return i_ < s_.size() && s_[i_] == c;
  }
  static bool IdentChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
           c == '+';
  }
  Result<std::string> Identifier() {
    Skip();
    const size_t start = i_;
    while (i_ < s_.size() && IdentChar(s_[i_])) Advance();
    if (i_ == start) {
      if (i_ >= s_.size()) return Error("unexpected end of file");
      return Error(std::string("unexpected '") + s_[i_] + "'");
    }
    return std::string(s_.substr(start, i_ - start));
  }
  Status Scalar(PbValue& v) {
    Skip();
    v.line = line_;
    v.col = col_;
    if (i_ < s_.size() && (s_[i_] == '"' || s_[i_] == '\'')) {
      const char q = s_[i_];
      Advance();
      v.quoted = true;
      while (i_ < s_.size() && s_[i_] != q) {
        if (s_[i_] == '\n') return Error("a string runs past the end of its line");
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) Advance();
        v.text += s_[i_];
        Advance();
      }
      if (i_ >= s_.size()) return Error("unterminated string");
      Advance();
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(v.text, Identifier());
    return Status::Ok();
  }
  Status Value(PbValue& v, int depth) {
    Skip();
    if (i_ < s_.size() && (s_[i_] == '{' || s_[i_] == '<')) {
      const char close = s_[i_] == '{' ? '}' : '>';
      v.line = line_;
      v.col = col_;
      Advance();
      v.child = std::make_shared<PbNode>();
      return Message(*v.child, close, depth + 1);
    }
    return Scalar(v);
  }
  // Fields until CLOSE ('\0': the end of the file).
  Status Message(PbNode& node, char close, int depth) {
    if (depth > kMaxDepth) return Error("nested deeper than " + std::to_string(kMaxDepth));
    for (;;) {
      Skip();
      if (i_ >= s_.size()) {
        if (close == '\0') return Status::Ok();
        return Error(std::string("missing '") + close + "'");
      }
      if (s_[i_] == close) {
        Advance();
        return Status::Ok();
      }
      if (++fields_ > 100000) return Error("more than 100000 fields");
      ASSIGN_OR_RETURN(std::string key, Identifier());
      const bool colon = Peek(':');
      if (colon) Advance();
      if (Peek('[')) {
        Advance();  // `key: [ ... ]`, or `key [ { ... } ]` as Triton's configs write lists
        if (Peek(']')) {
          Advance();
        } else {
          for (;;) {
            PbValue v;
            RETURN_IF_ERROR(Value(v, depth));
            node.fields.emplace_back(key, std::move(v));
            if (Peek(',')) {
              Advance();
              continue;
            }
            if (Peek(']')) {
              Advance();
              break;
            }
            return Error("expected ',' or ']' in the list of '" + key + "'");
          }
        }
      } else {
        if (!colon && !Peek('{') && !Peek('<')) return Error("expected ':' after '" + key + "'");
        PbValue v;
        RETURN_IF_ERROR(Value(v, depth));
        node.fields.emplace_back(key, std::move(v));
      }
      if (Peek(',') || Peek(';')) Advance();
    }
  }

  std::string_view s_;
  const std::string& file_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
  size_t fields_ = 0;
};

Status ValueError(const std::string& file, const PbValue& v, const std::string& what) {
  return Status::InvalidArgument(file + ":" + std::to_string(v.line) + ":" + std::to_string(v.col) +
                                 ": " + what);
}

Result<std::string> OneString(const PbNode& n, const std::string& key, const std::string& file) {
  const auto all = n.All(key);
  if (all.empty()) return std::string();
  if (all.size() > 1) return ValueError(file, *all[1], "'" + key + "' given twice");
  if (all[0]->child) return ValueError(file, *all[0], "'" + key + "' must be a value");
  return all[0]->text;
}

Result<int64_t> Integer(const PbValue& v, const std::string& key, const std::string& file) {
  long long x = 0;
  if (v.child || v.quoted || !ParseInt64(v.text, &x)) {
    return ValueError(file, v, "'" + key + "' must be an integer, got '" + v.text + "'");
  }
  return static_cast<int64_t>(x);
}

Result<std::vector<TritonTensorConfig>> Tensors(const PbNode& n, const std::string& key,
                                                const std::string& file) {
  std::vector<TritonTensorConfig> out;
  for (const PbValue* v : n.All(key)) {
    if (!v->child) return ValueError(file, *v, "'" + key + "' must be a message { ... }");
    TritonTensorConfig t;
    ASSIGN_OR_RETURN(t.name, OneString(*v->child, "name", file));
    ASSIGN_OR_RETURN(t.data_type, OneString(*v->child, "data_type", file));
    for (const PbValue* d : v->child->All("dims")) {
      ASSIGN_OR_RETURN(int64_t x, Integer(*d, key + ".dims", file));
      if (t.dims.size() >= 16) return ValueError(file, *d, key + ".dims: more than 16 dimensions");
      t.dims.push_back(x);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Result<TritonModelConfig> ParseTritonModelConfig(std::string_view text, const std::string& file) {
  if (text.size() > kMaxConfigBytes) {
    return Status::InvalidArgument(file + ": " + std::to_string(text.size()) +
                                   " bytes; a model configuration has at most " +
                                   std::to_string(kMaxConfigBytes));
  }
  if (text.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(file + ": not text (holds a NUL byte)");
  }
  PbParser parser(text, file);
  ASSIGN_OR_RETURN(std::shared_ptr<PbNode> root, parser.Parse());
  TritonModelConfig c;
  ASSIGN_OR_RETURN(c.name, OneString(*root, "name", file));
  ASSIGN_OR_RETURN(c.platform, OneString(*root, "platform", file));
  ASSIGN_OR_RETURN(c.backend, OneString(*root, "backend", file));
  const auto mbs = root->All("max_batch_size");
  if (mbs.size() > 1) return ValueError(file, *mbs[1], "'max_batch_size' given twice");
  if (!mbs.empty()) {
    ASSIGN_OR_RETURN(c.max_batch_size, Integer(*mbs[0], "max_batch_size", file));
    if (c.max_batch_size < 0) return ValueError(file, *mbs[0], "'max_batch_size' must be >= 0");
  }
  ASSIGN_OR_RETURN(c.input, Tensors(*root, "input", file));
  ASSIGN_OR_RETURN(c.output, Tensors(*root, "output", file));
  return c;
}

Result<std::vector<int64_t>> TritonInputShape(const TritonModelConfig& c, const std::string& file) {
  const bool torch = c.platform == "pytorch_libtorch" || c.backend == "pytorch" ||
                     (c.platform.empty() && c.backend.empty());
  if (!torch) {
    return Status::InvalidArgument(file + ": platform '" + c.platform + "' backend '" + c.backend +
                                   "' is not TorchScript (platform: \"pytorch_libtorch\")");
  }
  if (c.input.size() != 1) {
    return Status::InvalidArgument(file + ": " + std::to_string(c.input.size()) +
                                   " inputs; a served model has exactly one");
  }
  const TritonTensorConfig& in = c.input[0];
  if (!in.data_type.empty() && in.data_type != "TYPE_FP32") {
    return Status::InvalidArgument(file + ": input '" + in.name + "' is " + in.data_type +
                                   "; TorchScript models here take TYPE_FP32");
  }
  std::vector<int64_t> dims = in.dims;
  if (c.max_batch_size == 0) {
    // Without Triton's batching the dims are the whole shape, batch included.
    if (dims.empty() || (dims[0] != 1 && dims[0] != -1)) {
      return Status::InvalidArgument(file + ": with max_batch_size 0, input '" + in.name +
                                     "' dims must start with a batch of 1");
    }
    dims.erase(dims.begin());
  }
  if (dims.empty()) {
    return Status::InvalidArgument(file + ": input '" + in.name + "' has no dims");
  }
  for (int64_t d : dims) {
    if (d <= 0 || d > (int64_t{1} << 20)) {
      return Status::InvalidArgument(file + ": input '" + in.name + "' dims must be fixed sizes " +
                                     "from 1 to 2^20 (variable dims are not served), got " +
                                     std::to_string(d));
    }
  }
  return dims;
}

Result<UserModelFiles> FindUserModelFiles(const std::string& model_dir, const std::string& name) {
  if (model_dir.empty()) return Status::NotFound("no model folder");
  if (!IsPlainModelName(name)) {
    return Status::InvalidArgument("model name '" + name +
                                   "': names are letters, digits, '_', '-' and '.'");
  }
  std::error_code ec;
  const fs::path flat = fs::path(model_dir) / (name + ".pt");
  const fs::path folder = fs::path(model_dir) / name;
  const bool has_flat = fs::is_regular_file(flat, ec);
  const bool has_folder = fs::is_directory(folder, ec);
  if (has_flat && has_folder) {
    return Status::InvalidArgument("model '" + name + "' is both " + flat.string() + " and " +
                                   folder.string() + "/: keep one layout");
  }
  if (has_flat) {
    UserModelFiles f;
    f.model = flat.string();
    f.sidecar = (fs::path(model_dir) / (name + ".yaml")).string();
    return f;
  }
  if (!has_folder) return Status::NotFound("no model '" + name + "' in " + model_dir);
  UserModelFiles f;
  f.triton = true;
  f.sidecar = (folder / "config.pbtxt").string();
  if (!fs::is_regular_file(f.sidecar, ec)) {
    return Status::InvalidArgument("Triton model folder " + folder.string() +
                                   "/ has no config.pbtxt");
  }
  int64_t best = -1;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    const std::string v = e.path().filename().string();
    long long n = 0;
    if (!IsVersionName(v) || !ParseInt64(v, &n)) continue;
    if (n > best && fs::is_regular_file(e.path() / "model.pt", ec)) best = n;
  }
  if (best < 0) {
    return Status::InvalidArgument("Triton model folder " + folder.string() +
                                   "/ has no version folder with a model.pt (e.g. " +
                                   (folder / "1" / "model.pt").string() + ")");
  }
  f.version = best;
  f.model = (folder / std::to_string(best) / "model.pt").string();
  return f;
}

bool HasUserModel(const std::string& model_dir, const std::string& name) {
  if (model_dir.empty() || !IsPlainModelName(name)) return false;
  std::error_code ec;
  return fs::is_regular_file(fs::path(model_dir) / (name + ".pt"), ec) ||
         fs::is_regular_file(fs::path(model_dir) / name / "config.pbtxt", ec);
}

std::vector<std::string> UserModelNamesIn(const std::string& model_dir) {
  std::vector<std::string> names;
  if (model_dir.empty()) return names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir, ec)) {
    std::string name;
    if (e.path().extension() == ".pt") {
      name = e.path().stem().string();
    } else if (e.is_directory(ec)) {
      name = e.path().filename().string();
    } else {
      continue;
    }
    if (HasUserModel(model_dir, name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace autoscale
