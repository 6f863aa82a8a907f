// tessera._C.nn: Module (subclassable from Python), the layers of tessera/nn/layers.h,
// nn.functional and nn.init.
//
// A Python subclass of Module is a PyModule underneath: when C++ calls forward() (a
// Sequential holding it, fit(), summary()) the call takes the GIL and runs the Python
// method. Containers keep the Python objects they hold alive (keep_alive), so a Python
// module inside a C++ container never loses its Python half.
#include "common.h"

namespace tessera::python {
namespace {

namespace F = nn::functional;
using nn::Module;
using nn::ModulePtr;

class PyModule : public Module {
 public:
  PyModule() : Module("Module") {}
  Tensor forward(const Tensor& x) override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const Module*>(this), "forward");
    if (!f) return Module::forward(x);
    py::object r = f(x);
    if (py::isinstance<py::tuple>(r) || py::isinstance<py::list>(r)) {
      auto v = outputs(r);
      TESSERA_CHECK(v.size() == 1, "forward: a one-output call got ", v.size(), " outputs");
      return v[0];
    }
    return output(r);
  }
  std::vector<Tensor> forward_multi(const std::vector<Tensor>& inputs) override {
    py::gil_scoped_acquire gil;
    py::function f = py::get_override(static_cast<const Module*>(this), "forward");
    if (!f) return Module::forward_multi(inputs);
    py::tuple args(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) args[i] = py::cast(inputs[i]);
    py::object r = f(*args);
    if (py::isinstance<py::tuple>(r) || py::isinstance<py::list>(r)) return outputs(r);
    return {output(r)};
  }
  std::string extra_repr() const override {
    PYBIND11_OVERRIDE(std::string, Module, extra_repr, );
  }
  void add(const std::string& name, ModulePtr m) { add_child(name, std::move(m)); }

 private:
  // What a Python forward returned, checked with a message that names the class.
  Tensor output(const py::object& r) const {
    if (!py::isinstance<Tensor>(r))
      throw py::type_error(py::str(py::type::handle_of(py::cast(this))).cast<std::string>() +
                           ".forward returned " + py::str(py::type::handle_of(r)).cast<std::string>() +
                           ", expected a Tensor (or a tuple of Tensors)");
    return r.cast<Tensor>();
  }
  std::vector<Tensor> outputs(const py::object& r) const {
    std::vector<Tensor> v;
    for (auto item : r) v.push_back(output(py::reinterpret_borrow<py::object>(item)));
    return v;
  }
};

// Module::add_child is protected; this reaches it for any module (Python assigns children
// to built-in containers too).
struct ChildAdder : Module {
  static void add(Module& parent, const std::string& name, ModulePtr child) {
    (parent.*(&ChildAdder::add_child))(name, std::move(child));
  }
};

F::Reduction reduction_of(const std::string& r) {
  if (r == "mean") return F::Reduction::Mean;
  if (r == "sum") return F::Reduction::Sum;
  if (r == "none") return F::Reduction::None;
  throw py::value_error("reduction: expected 'mean', 'sum' or 'none', got '" + r + "'");
}

// An int or a tuple of ints -> a vector (kernel_size=3 or (3, 3)).
std::vector<int64_t> ints(py::handle h, const char* what) {
  if (py::isinstance<py::int_>(h)) return {h.cast<int64_t>()};
  try {
    return h.cast<std::vector<int64_t>>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(what) + ": expected an int or a tuple of ints, got " +
                         py::repr(h).cast<std::string>());
  }
}

Tensor opt_tensor(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

py::object tensor_or_none(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

py::list named_list(const std::vector<std::pair<std::string, Tensor>>& v) {
  py::list out;
  for (const auto& [k, t] : v) out.append(py::make_tuple(k, t));
  return out;
}

template <typename T>
using Cls = py::class_<T, Module, std::shared_ptr<T>>;

}  // namespace

void init_nn(py::module_& m) {
  auto nnm = m.def_submodule("nn", "Layers and models (torch.nn)");

  py::class_<Module, PyModule, std::shared_ptr<Module>> mod(nnm, "Module", py::dynamic_attr());
  mod.def(py::init<>())
      .def("_call", [](Module& self, const Tensor& x) {
        py::gil_scoped_release r;
        return self(x);
      })
      .def("_call_multi", [](Module& self, const std::vector<Tensor>& xs) {
        py::gil_scoped_release r;
        return self(xs);
      })
      .def("forward", [](Module& self, py::args args) -> py::object {
        if (args.size() == 1) {
          Tensor x = args[0].cast<Tensor>();
          py::gil_scoped_release r;
          Tensor y = self.forward(x);
          py::gil_scoped_acquire g;
          return py::cast(y);
        }
        auto xs = args.cast<std::vector<Tensor>>();
        std::vector<Tensor> ys;
        {
          py::gil_scoped_release r;
          ys = self.forward_multi(xs);
        }
        return py::cast(ys);
      })
      .def_property_readonly("_type_name", &Module::type_name)
      // Whether the C++ object exists yet: a subclass's __init__ may assign attributes
      // before (or without) calling super().__init__(), and no C++ method may run then.
      .def("_ready", [](py::handle self) {
        auto* inst = reinterpret_cast<py::detail::instance*>(self.ptr());
        return inst->get_value_and_holder().holder_constructed();
      })
      .def("_is_builtin", [](py::handle self) {
        // A layer class bound here (not a Python subclass of Module).
        return py::type::handle_of(self).attr("__module__").cast<std::string>() == "tessera._C.nn";
      })
      .def("register_parameter", [](Module& self, const std::string& name, std::optional<Tensor> t) {
        self.register_parameter(name, opt_tensor(t), t ? t->requires_grad() || !t->defined() : true);
      }, py::arg("name"), py::arg("param"))
      .def("register_buffer", [](Module& self, const std::string& name, std::optional<Tensor> t, bool persistent) {
        self.register_buffer(name, opt_tensor(t), persistent);
      }, py::arg("name"), py::arg("tensor"), py::arg("persistent") = true)
      .def("add_module", [](Module& self, const std::string& name, ModulePtr child) {
        ChildAdder::add(self, name, std::move(child));
      }, py::arg("name"), py::arg("module"), py::keep_alive<1, 3>())
      .def("register_module", [](Module& self, const std::string& name, ModulePtr child) {
        ChildAdder::add(self, name, std::move(child));
      }, py::arg("name"), py::arg("module"), py::keep_alive<1, 3>())
      // Attribute lookup for nn.Module.__getattr__: ("parameter" | "buffer" | "module", value)
      // or None when the name is none of them.
      .def("_lookup", [](Module& self, const std::string& name) -> py::object {
        if (name.find('.') != std::string::npos) return py::none();
        for (const auto& [k, child] : self.named_children())
          if (k == name) return py::make_tuple("module", py::cast(child));
        try {
          Tensor& t = self.parameter(name);
          return py::make_tuple("parameter", tensor_or_none(t));
        } catch (const Error&) {
        }
        try {
          Tensor& t = self.buffer(name);
          return py::make_tuple("buffer", tensor_or_none(t));
        } catch (const Error&) {
        }
        return py::none();
      })
      .def("_set_slot", [](Module& self, const std::string& kind, const std::string& name,
                           std::optional<Tensor> t) {
        Tensor& slot = kind == "parameter" ? self.parameter(name) : self.buffer(name);
        slot = opt_tensor(t);
      })
      .def("named_parameters", [](const Module& s, const std::string& prefix, bool recurse) {
        auto v = s.named_parameters(recurse);
        if (!prefix.empty()) for (auto& p : v) p.first = prefix + "." + p.first;
        return named_list(v);
      }, py::arg("prefix") = "", py::arg("recurse") = true)
      .def("parameters", [](const Module& s, bool recurse) { return s.parameters(recurse); },
           py::arg("recurse") = true)
      .def("named_buffers", [](const Module& s, const std::string& prefix, bool recurse) {
        auto v = s.named_buffers(recurse);
        if (!prefix.empty()) for (auto& p : v) p.first = prefix + "." + p.first;
        return named_list(v);
      }, py::arg("prefix") = "", py::arg("recurse") = true)
      .def("buffers", [](const Module& s, bool recurse) { return s.buffers(recurse); }, py::arg("recurse") = true)
      .def("named_children", &Module::named_children)
      .def("children", &Module::children)
      .def("named_modules", &Module::named_modules)
      .def("modules", [](Module& s) {
        std::vector<ModulePtr> out;
        for (auto& [k, c] : s.named_modules()) out.push_back(c);
        return out;
      })
      .def("get_submodule", &Module::submodule, py::arg("target"))
      .def("get_parameter", [](Module& s, const std::string& n) { return s.parameter(n); }, py::arg("target"))
      .def("get_buffer", [](Module& s, const std::string& n) { return s.buffer(n); }, py::arg("target"))
      .def("train", [](py::object self, bool on) {
        self.cast<Module&>().train(on);
        return self;
      }, py::arg("mode") = true)
      .def("eval", [](py::object self) {
        self.cast<Module&>().eval();
        return self;
      })
      .def_property_readonly("training", &Module::is_training)
      .def("zero_grad", [](Module& s, bool set_to_none) {
        if (set_to_none) {
          s.zero_grad();
          return;
        }
        for (Tensor p : s.parameters())
          if (p.grad().defined()) p.grad().zero_();
      }, py::arg("set_to_none") = true)
      .def("_state_dict", &Module::state_dict)
      .def("_load_state_dict", [](Module& s, const StateDict& sd, bool strict) {
        nn::LoadStateDictResult r;
        {
          py::gil_scoped_release rel;
          r = s.load_state_dict(sd, strict);
        }
        return py::make_tuple(r.missing_keys, r.unexpected_keys);
      }, py::arg("state_dict"), py::arg("strict") = true)
      .def("to", [](py::object self, py::handle what, py::handle dtype) {
        py::handle d = dtype.is_none() ? what : dtype;
        if (auto dev = device_name(d)) {
          check_cpu_device(*dev, "to");
          return self;
        }
        if (!d.is_none()) self.cast<Module&>().to(d.cast<DType>());
        return self;
      }, py::arg("device_or_dtype") = py::none(), py::arg("dtype") = py::none())
      .def("float", [](py::object self) {
        self.cast<Module&>().to(kFloat32);
        return self;
      })
      .def("double", [](py::object self) {
        self.cast<Module&>().to(kFloat64);
        return self;
      })
      .def("cpu", [](py::object self) { return self; })
      .def("num_parameters", &Module::num_parameters, py::arg("trainable_only") = false)
      .def("_repr", &Module::repr)
      .def("extra_repr", &Module::extra_repr)
      .def("summary", [](Module& s, IntArrayRef shape) {
        std::vector<int64_t> v = shape.vec();
        py::gil_scoped_release r;
        return s.summary(v);
      }, py::arg("input_size"), "A Keras-style table of output shapes and parameter counts.")
      .def("register_forward_hook", [](Module& s, py::function hook) {
        auto h = std::make_shared<py::object>(hook);
        return s.register_forward_hook(Module::MultiForwardHook(
            [h](Module& mod, const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
              py::gil_scoped_acquire g;
              py::object self = py::cast(mod.shared_from_this());
              py::tuple ins = py::cast(in);
              (*h)(self, ins, out.size() == 1 ? py::cast(out[0]) : py::cast(out));
            }));
      }, py::arg("hook"))
      .def("remove_forward_hook", &Module::remove_forward_hook, py::arg("id"))
      .def("apply", [](py::object self, py::function fn) {
        self.cast<Module&>().apply([&fn](Module& mod) { fn(py::cast(mod.shared_from_this())); });
        return self;
      }, py::arg("fn"));

  // ---- layers: PyTorch's constructors and attributes ----
  Cls<nn::Identity>(nnm, "Identity").def(py::init([](py::args, py::kwargs) {
    return std::make_shared<nn::Identity>();
  }));
  Cls<nn::Linear>(nnm, "Linear")
      .def(py::init<int64_t, int64_t, bool>(), py::arg("in_features"), py::arg("out_features"),
           py::arg("bias") = true)
      .def_readonly("in_features", &nn::Linear::in_features)
      .def_readonly("out_features", &nn::Linear::out_features)
      .def("reset_parameters", &nn::Linear::reset_parameters);
  Cls<nn::Bilinear>(nnm, "Bilinear")
      .def(py::init<int64_t, int64_t, int64_t, bool>(), py::arg("in1_features"), py::arg("in2_features"),
           py::arg("out_features"), py::arg("bias") = true)
      .def("forward", [](nn::Bilinear& b, const Tensor& x1, const Tensor& x2) { return b.forward(x1, x2); },
           GilRelease())
      .def("_call_multi", [](nn::Bilinear& b, const std::vector<Tensor>& xs) {
        TESSERA_CHECK(xs.size() == 2, "Bilinear: expected 2 inputs, got ", xs.size());
        return std::vector<Tensor>{b.forward(xs[0], xs[1])};
      }, GilRelease());

  auto conv_opts = [](py::handle stride, py::handle padding, py::handle dilation, int64_t groups, bool bias,
                      py::handle output_padding) {
    nn::ConvOptions o;
    o.stride = ints(stride, "stride");
    if (py::isinstance<py::str>(padding)) o.padding = nn::Padding(padding.cast<std::string>());
    else {
      nn::Padding p(0);
      p.sizes = ints(padding, "padding");
      o.padding = p;
    }
    o.dilation = ints(dilation, "dilation");
    o.groups = groups;
    o.bias = bias;
    o.output_padding = ints(output_padding, "output_padding");
    return o;
  };
  py::class_<nn::ConvNd, Module, std::shared_ptr<nn::ConvNd>>(nnm, "_ConvNd")
      .def_readonly("in_channels", &nn::ConvNd::in_channels)
      .def_readonly("out_channels", &nn::ConvNd::out_channels)
      .def_property_readonly("kernel_size", [](const nn::ConvNd& c) { return py::tuple(py::cast(c.kernel_size)); })
      .def_property_readonly("stride", [](const nn::ConvNd& c) { return py::tuple(py::cast(c.stride)); })
      .def_property_readonly("dilation", [](const nn::ConvNd& c) { return py::tuple(py::cast(c.dilation)); })
      .def_property_readonly("padding", [](const nn::ConvNd& c) -> py::object {
        if (!c.padding_mode.empty()) return py::str(c.padding_mode);
        return py::tuple(py::cast(c.padding));
      })
      .def_readonly("groups", &nn::ConvNd::groups)
      .def("reset_parameters", &nn::ConvNd::reset_parameters);
  py::class_<nn::Conv1d, nn::ConvNd, std::shared_ptr<nn::Conv1d>>(nnm, "Conv1d")
      .def(py::init([conv_opts](int64_t in, int64_t out, int64_t k, py::handle stride, py::handle padding,
                                py::handle dilation, int64_t groups, bool bias) {
             return std::make_shared<nn::Conv1d>(in, out, k,
                                                 conv_opts(stride, padding, dilation, groups, bias, py::int_(0)));
           }),
           py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
           py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true);
  py::class_<nn::Conv2d, nn::ConvNd, std::shared_ptr<nn::Conv2d>>(nnm, "Conv2d")
      .def(py::init([conv_opts](int64_t in, int64_t out, py::handle k, py::handle stride, py::handle padding,
                                py::handle dilation, int64_t groups, bool bias, const std::string& mode) {
             if (mode != "zeros")
               throw py::value_error("Conv2d: padding_mode '" + mode + "' is not supported (only 'zeros')");
             return std::make_shared<nn::Conv2d>(in, out, ints(k, "kernel_size"),
                                                 conv_opts(stride, padding, dilation, groups, bias, py::int_(0)));
           }),
           py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
           py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true,
           py::arg("padding_mode") = "zeros");
  py::class_<nn::ConvTranspose2d, nn::ConvNd, std::shared_ptr<nn::ConvTranspose2d>>(nnm, "ConvTranspose2d")
      .def(py::init([conv_opts](int64_t in, int64_t out, py::handle k, py::handle stride, py::handle padding,
                                py::handle output_padding, int64_t groups, bool bias, py::handle dilation) {
             return std::make_shared<nn::ConvTranspose2d>(
                 in, out, ints(k, "kernel_size"), conv_opts(stride, padding, dilation, groups, bias, output_padding));
           }),
           py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
           py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("bias") = true,
           py::arg("dilation") = 1);

  Cls<nn::MaxPool2d>(nnm, "MaxPool2d")
      .def(py::init([](py::handle k, py::handle stride, py::handle padding, py::handle dilation, bool ceil) {
             return std::make_shared<nn::MaxPool2d>(ints(k, "kernel_size"),
                                                    stride.is_none() ? std::vector<int64_t>{} : ints(stride, "stride"),
                                                    ints(padding, "padding"), ints(dilation, "dilation"), ceil);
           }),
           py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
           py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  Cls<nn::AvgPool2d>(nnm, "AvgPool2d")
      .def(py::init([](py::handle k, py::handle stride, py::handle padding, bool ceil, bool cip) {
             return std::make_shared<nn::AvgPool2d>(ints(k, "kernel_size"),
                                                    stride.is_none() ? std::vector<int64_t>{} : ints(stride, "stride"),
                                                    ints(padding, "padding"), ceil, cip);
           }),
           py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
           py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  Cls<nn::AdaptiveAvgPool2d>(nnm, "AdaptiveAvgPool2d")
      .def(py::init([](py::handle s) { return std::make_shared<nn::AdaptiveAvgPool2d>(ints(s, "output_size")); }),
           py::arg("output_size"));

  py::class_<nn::BatchNorm, Module, std::shared_ptr<nn::BatchNorm>>(nnm, "_BatchNorm")
      .def_readonly("num_features", &nn::BatchNorm::num_features)
      .def_readonly("eps", &nn::BatchNorm::eps)
      .def_readonly("momentum", &nn::BatchNorm::momentum)
      .def("reset_running_stats", &nn::BatchNorm::reset_running_stats)
      .def("reset_parameters", &nn::BatchNorm::reset_parameters);
  py::class_<nn::BatchNorm1d, nn::BatchNorm, std::shared_ptr<nn::BatchNorm1d>>(nnm, "BatchNorm1d")
      .def(py::init<int64_t, double, std::optional<double>, bool, bool>(), py::arg("num_features"),
           py::arg("eps") = 1e-5, py::arg("momentum") = 0.1, py::arg("affine") = true,
           py::arg("track_running_stats") = true);
  py::class_<nn::BatchNorm2d, nn::BatchNorm, std::shared_ptr<nn::BatchNorm2d>>(nnm, "BatchNorm2d")
      .def(py::init<int64_t, double, std::optional<double>, bool, bool>(), py::arg("num_features"),
           py::arg("eps") = 1e-5, py::arg("momentum") = 0.1, py::arg("affine") = true,
           py::arg("track_running_stats") = true);
  Cls<nn::LayerNorm>(nnm, "LayerNorm")
      .def(py::init([](py::handle shape, double eps, bool affine, bool bias) {
             return std::make_shared<nn::LayerNorm>(ints(shape, "normalized_shape"), eps, affine, bias);
           }),
           py::arg("normalized_shape"), py::arg("eps") = 1e-5, py::arg("elementwise_affine") = true,
           py::arg("bias") = true)
      .def_property_readonly("normalized_shape", [](const nn::LayerNorm& l) { return py::tuple(py::cast(l.normalized_shape)); })
      .def_readonly("eps", &nn::LayerNorm::eps);
  Cls<nn::GroupNorm>(nnm, "GroupNorm")
      .def(py::init<int64_t, int64_t, double, bool>(), py::arg("num_groups"), py::arg("num_channels"),
           py::arg("eps") = 1e-5, py::arg("affine") = true);
  Cls<nn::Dropout>(nnm, "Dropout")
      .def(py::init<double>(), py::arg("p") = 0.5)
      .def_readonly("p", &nn::Dropout::p);
  Cls<nn::Embedding>(nnm, "Embedding")
      .def(py::init<int64_t, int64_t, std::optional<int64_t>>(), py::arg("num_embeddings"),
           py::arg("embedding_dim"), py::arg("padding_idx") = py::none())
      .def_readonly("num_embeddings", &nn::Embedding::num_embeddings)
      .def_readonly("embedding_dim", &nn::Embedding::embedding_dim);
  Cls<nn::ReLU>(nnm, "ReLU").def(py::init([](bool inplace) { return std::make_shared<nn::ReLU>(); }),
                                 py::arg("inplace") = false);
  Cls<nn::LeakyReLU>(nnm, "LeakyReLU")
      .def(py::init([](double s, bool) { return std::make_shared<nn::LeakyReLU>(s); }),
           py::arg("negative_slope") = 0.01, py::arg("inplace") = false);
  Cls<nn::GELU>(nnm, "GELU").def(py::init<std::string>(), py::arg("approximate") = "none");
  Cls<nn::SiLU>(nnm, "SiLU").def(py::init([](bool) { return std::make_shared<nn::SiLU>(); }),
                                 py::arg("inplace") = false);
  Cls<nn::Sigmoid>(nnm, "Sigmoid").def(py::init<>());
  Cls<nn::Tanh>(nnm, "Tanh").def(py::init<>());
  Cls<nn::Softmax>(nnm, "Softmax").def(py::init<int64_t>(), py::arg("dim") = -1);
  Cls<nn::LogSoftmax>(nnm, "LogSoftmax").def(py::init<int64_t>(), py::arg("dim") = -1);
  Cls<nn::Flatten>(nnm, "Flatten").def(py::init<int64_t, int64_t>(), py::arg("start_dim") = 1,
                                       py::arg("end_dim") = -1);

  // ---- containers (keep_alive: the Python objects of the children live as long) ----
  Cls<nn::Sequential>(nnm, "Sequential")
      .def(py::init([](py::args mods) {
        auto s = std::make_shared<nn::Sequential>();
        if (mods.size() == 1 && py::hasattr(mods[0], "items") && !py::isinstance<Module>(mods[0])) {
          for (auto kv : mods[0].attr("items")()) {
            auto pair = kv.cast<py::tuple>();
            s->push_back(pair[0].cast<std::string>(), pair[1].cast<ModulePtr>());
          }
          return s;
        }
        for (auto a : mods) {
          if (!py::isinstance<Module>(a))
            throw py::type_error("Sequential: expected modules, got " +
                                 py::str(py::type::handle_of(a)).cast<std::string>());
          s->push_back(a.cast<ModulePtr>());
        }
        return s;
      }), py::keep_alive<1, 2>())
      .def("append", [](py::object self, ModulePtr mod) {
        self.cast<nn::Sequential&>().push_back(std::move(mod));
        return self;
      }, py::keep_alive<1, 2>())
      .def("__len__", &nn::Sequential::size)
      .def("__getitem__", [](const nn::Sequential& s, int64_t i) {
        const auto n = static_cast<int64_t>(s.size());
        if (i < -n || i >= n) throw py::index_error("Sequential: index " + std::to_string(i) + " out of range");
        return s[static_cast<size_t>(i < 0 ? i + n : i)];
      })
      .def("__iter__", [](const nn::Sequential& s) { return py::iter(py::cast(s.children())); });
  Cls<nn::ModuleList>(nnm, "ModuleList")
      .def(py::init([](std::optional<std::vector<ModulePtr>> mods) {
        auto l = std::make_shared<nn::ModuleList>();
        if (mods) for (auto& mm : *mods) l->push_back(mm);
        return l;
      }), py::arg("modules") = py::none(), py::keep_alive<1, 2>())
      .def("append", [](py::object self, ModulePtr mod) {
        self.cast<nn::ModuleList&>().push_back(std::move(mod));
        return self;
      }, py::keep_alive<1, 2>())
      .def("extend", [](py::object self, std::vector<ModulePtr> mods) {
        for (auto& mm : mods) self.cast<nn::ModuleList&>().push_back(mm);
        return self;
      }, py::keep_alive<1, 2>())
      .def("__len__", &nn::ModuleList::size)
      .def("__getitem__", [](const nn::ModuleList& s, int64_t i) {
        const auto n = static_cast<int64_t>(s.size());
        if (i < -n || i >= n) throw py::index_error("ModuleList: index " + std::to_string(i) + " out of range");
        return s[static_cast<size_t>(i < 0 ? i + n : i)];
      })
      .def("__iter__", [](const nn::ModuleList& s) { return py::iter(py::cast(s.children())); });
  Cls<nn::ModuleDict>(nnm, "ModuleDict")
      .def(py::init([](std::optional<py::dict> mods) {
        auto d = std::make_shared<nn::ModuleDict>();
        if (mods) for (auto kv : *mods) d->insert(kv.first.cast<std::string>(), kv.second.cast<ModulePtr>());
        return d;
      }), py::arg("modules") = py::none(), py::keep_alive<1, 2>())
      .def("__setitem__", [](nn::ModuleDict& d, const std::string& k, ModulePtr v) { d.insert(k, v); },
           py::keep_alive<1, 3>())
      .def("__getitem__", [](const nn::ModuleDict& d, const std::string& k) {
        if (!d.contains(k)) throw py::key_error(k);
        return d[k];
      })
      .def("__contains__", &nn::ModuleDict::contains)
      .def("__len__", &nn::ModuleDict::size)
      .def("keys", &nn::ModuleDict::keys)
      .def("items", [](const nn::ModuleDict& d) { return d.named_children(); })
      .def("values", [](const nn::ModuleDict& d) { return d.children(); })
      .def("__iter__", [](const nn::ModuleDict& d) { return py::iter(py::cast(d.keys())); });

  // ---- attention, transformer, recurrent ----
  Cls<nn::MultiheadAttention>(nnm, "MultiheadAttention")
      .def(py::init<int64_t, int64_t, double, bool, bool>(), py::arg("embed_dim"), py::arg("num_heads"),
           py::arg("dropout") = 0.0, py::arg("bias") = true, py::arg("batch_first") = false)
      .def("forward",
           [](nn::MultiheadAttention& a, const Tensor& q, const Tensor& k, const Tensor& v,
              std::optional<Tensor> kpm, bool need_weights, std::optional<Tensor> mask, bool avg, bool causal) {
             py::gil_scoped_release r;
             auto [out, w] = a.forward(q, k, v, opt_tensor(kpm), need_weights, opt_tensor(mask), avg, causal);
             py::gil_scoped_acquire g;
             return py::make_tuple(out, tensor_or_none(w));
           },
           py::arg("query"), py::arg("key"), py::arg("value"), py::arg("key_padding_mask") = py::none(),
           py::arg("need_weights") = true, py::arg("attn_mask") = py::none(),
           py::arg("average_attn_weights") = true, py::arg("is_causal") = false)
      .def_readonly("embed_dim", &nn::MultiheadAttention::embed_dim)
      .def_readonly("num_heads", &nn::MultiheadAttention::num_heads);
  Cls<nn::TransformerEncoderLayer>(nnm, "TransformerEncoderLayer")
      .def(py::init([](int64_t d, int64_t h, int64_t ff, double drop, const std::string& act, double eps,
                       bool bf, bool nf, bool bias) {
             nn::TransformerEncoderLayerOptions o;
             o.dim_feedforward = ff;
             o.dropout = drop;
             o.activation = act;
             o.layer_norm_eps = eps;
             o.batch_first = bf;
             o.norm_first = nf;
             o.bias = bias;
             return std::make_shared<nn::TransformerEncoderLayer>(d, h, o);
           }),
           py::arg("d_model"), py::arg("nhead"), py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,
           py::arg("activation") = "relu", py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false,
           py::arg("norm_first") = false, py::arg("bias") = true)
      .def("forward",
           [](nn::TransformerEncoderLayer& l, const Tensor& src, std::optional<Tensor> mask,
              std::optional<Tensor> kpm, bool causal) {
             py::gil_scoped_release r;
             return l.forward(src, opt_tensor(mask), opt_tensor(kpm), causal);
           },
           py::arg("src"), py::arg("src_mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
           py::arg("is_causal") = false);
  auto rnn_opts = [](int64_t layers, bool bias, bool bf, double drop, bool bi) {
    nn::RNNOptions o;
    o.num_layers = layers;
    o.bias = bias;
    o.batch_first = bf;
    o.dropout = drop;
    o.bidirectional = bi;
    return o;
  };
  py::class_<nn::RNNBase, Module, std::shared_ptr<nn::RNNBase>>(nnm, "_RNNBase")
      .def_readonly("input_size", &nn::RNNBase::input_size)
      .def_readonly("hidden_size", &nn::RNNBase::hidden_size);
  py::class_<nn::LSTM, nn::RNNBase, std::shared_ptr<nn::LSTM>>(nnm, "LSTM")
      .def(py::init([rnn_opts](int64_t in, int64_t h, int64_t layers, bool bias, bool bf, double drop, bool bi) {
             return std::make_shared<nn::LSTM>(in, h, rnn_opts(layers, bias, bf, drop, bi));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("bias") = true,
           py::arg("batch_first") = false, py::arg("dropout") = 0.0, py::arg("bidirectional") = false)
      .def("forward",
           [](nn::LSTM& l, const Tensor& x, std::optional<std::pair<Tensor, Tensor>> hx) {
             py::gil_scoped_release r;
             auto out = l.forward(x, hx ? *hx : std::pair<Tensor, Tensor>{});
             py::gil_scoped_acquire g;
             return py::make_tuple(out.first, py::make_tuple(out.second.first, out.second.second));
           },
           py::arg("input"), py::arg("hx") = py::none());
  py::class_<nn::GRU, nn::RNNBase, std::shared_ptr<nn::GRU>>(nnm, "GRU")
      .def(py::init([rnn_opts](int64_t in, int64_t h, int64_t layers, bool bias, bool bf, double drop, bool bi) {
             return std::make_shared<nn::GRU>(in, h, rnn_opts(layers, bias, bf, drop, bi));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("bias") = true,
           py::arg("batch_first") = false, py::arg("dropout") = 0.0, py::arg("bidirectional") = false)
      .def("forward",
           [](nn::GRU& l, const Tensor& x, std::optional<Tensor> h0) {
             py::gil_scoped_release r;
             auto out = l.forward(x, opt_tensor(h0));
             py::gil_scoped_acquire g;
             return py::make_tuple(out.first, out.second);
           },
           py::arg("input"), py::arg("hx") = py::none());

  // ---- models ----
  auto mm_ = m.def_submodule("models", "The reference models (tessera/models.h)");
  mm_.def("cnn28", [] { return std::static_pointer_cast<Module>(tessera::models::cnn28()); });
  mm_.def("cnn64", [] { return std::static_pointer_cast<Module>(tessera::models::cnn64()); });
  mm_.def("mlp", [] { return std::static_pointer_cast<Module>(tessera::models::mlp()); });
  mm_.def("encoder", &tessera::models::encoder);
  mm_.def("resnet18", &tessera::models::resnet18, py::arg("num_classes") = 1000);

  // ---- functional ----
  auto f = nnm.def_submodule("functional", "Neural-network functions (torch.nn.functional)");
  f.def("linear", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b) { return F::linear(x, w, opt_tensor(b)); },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), GilRelease());
  f.def("bilinear", [](const Tensor& a, const Tensor& b, const Tensor& w, std::optional<Tensor> bias) {
    return F::bilinear(a, b, w, opt_tensor(bias));
  }, py::arg("input1"), py::arg("input2"), py::arg("weight"), py::arg("bias") = py::none(), GilRelease());
  f.def("conv1d", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, int64_t s, int64_t p, int64_t d,
                     int64_t g) { return F::conv1d(x, w, opt_tensor(b), s, p, d, g); },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, GilRelease());
  auto pair2 = [](py::handle h, const char* what) {
    auto v = ints(h, what);
    if (v.size() == 1) v.push_back(v[0]);
    return v;
  };
  f.def("conv2d", [pair2](const Tensor& x, const Tensor& w, std::optional<Tensor> b, py::handle stride,
                          py::handle padding, py::handle dilation, int64_t groups) {
    auto s = pair2(stride, "stride"), d = pair2(dilation, "dilation");
    if (py::isinstance<py::str>(padding)) {
      std::string mode = padding.cast<std::string>();
      py::gil_scoped_release r;
      return F::conv2d(x, w, opt_tensor(b), s, F::PaddingMode(mode), d, groups);
    }
    auto p = pair2(padding, "padding");
    py::gil_scoped_release r;
    return F::conv2d(x, w, opt_tensor(b), s, p, d, groups);
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1);
  f.def("conv_transpose2d", [pair2](const Tensor& x, const Tensor& w, std::optional<Tensor> b, py::handle stride,
                                    py::handle padding, py::handle op, int64_t groups, py::handle dilation) {
    auto s = pair2(stride, "stride"), p = pair2(padding, "padding"), o = pair2(op, "output_padding"),
         d = pair2(dilation, "dilation");
    py::gil_scoped_release r;
    return F::conv_transpose2d(x, w, opt_tensor(b), s, p, o, groups, d);
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1);
  f.def("max_pool2d", [pair2](const Tensor& x, py::handle k, py::handle stride, py::handle padding,
                              py::handle dilation, bool ceil) {
    auto kk = pair2(k, "kernel_size"), p = pair2(padding, "padding"), d = pair2(dilation, "dilation");
    std::vector<int64_t> s = stride.is_none() ? std::vector<int64_t>{} : pair2(stride, "stride");
    py::gil_scoped_release r;
    return F::max_pool2d(x, kk, s, p, d, ceil);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("ceil_mode") = false);
  f.def("avg_pool2d", [pair2](const Tensor& x, py::handle k, py::handle stride, py::handle padding, bool ceil,
                              bool cip) {
    auto kk = pair2(k, "kernel_size"), p = pair2(padding, "padding");
    std::vector<int64_t> s = stride.is_none() ? std::vector<int64_t>{} : pair2(stride, "stride");
    py::gil_scoped_release r;
    return F::avg_pool2d(x, kk, s, p, ceil, cip);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  f.def("adaptive_avg_pool2d", [pair2](const Tensor& x, py::handle size) {
    auto s = pair2(size, "output_size");
    py::gil_scoped_release r;
    return F::adaptive_avg_pool2d(x, s);
  }, py::arg("input"), py::arg("output_size"));
  f.def("batch_norm", [](const Tensor& x, std::optional<Tensor> rm, std::optional<Tensor> rv, std::optional<Tensor> w,
                         std::optional<Tensor> b, bool training, double momentum, double eps) {
    return F::batch_norm(x, opt_tensor(rm), opt_tensor(rv), opt_tensor(w), opt_tensor(b), training, momentum, eps);
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
        py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1,
        py::arg("eps") = 1e-5, GilRelease());
  f.def("layer_norm", [](const Tensor& x, py::handle shape, std::optional<Tensor> w, std::optional<Tensor> b,
                         double eps) {
    auto s = ints(shape, "normalized_shape");
    py::gil_scoped_release r;
    return F::layer_norm(x, s, opt_tensor(w), opt_tensor(b), eps);
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("eps") = 1e-5);
  f.def("group_norm", [](const Tensor& x, int64_t g, std::optional<Tensor> w, std::optional<Tensor> b, double eps) {
    return F::group_norm(x, g, opt_tensor(w), opt_tensor(b), eps);
  }, py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("eps") = 1e-5, GilRelease());
  f.def("dropout", [](const Tensor& x, double p, bool training, bool inplace, Generator* g) {
    return F::dropout(x, p, training, g);
  }, py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, py::arg("inplace") = false,
        py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  f.def("embedding", [](const Tensor& idx, const Tensor& w, std::optional<int64_t> pad) {
    return F::embedding(idx, w, pad.value_or(-1));
  }, py::arg("input"), py::arg("weight"), py::arg("padding_idx") = py::none(), GilRelease());
  f.def("scaled_dot_product_attention",
        [](const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> mask, double p, bool causal) {
          return F::scaled_dot_product_attention(q, k, v, opt_tensor(mask), p, causal);
        },
        py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
        py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, GilRelease());
  f.def("leaky_relu", [](const Tensor& x, double s, bool) { return F::leaky_relu(x, s); }, py::arg("input"),
        py::arg("negative_slope") = 0.01, py::arg("inplace") = false, GilRelease());
  f.def("relu", [](const Tensor& x, bool) { return relu(x); }, py::arg("input"), py::arg("inplace") = false,
        GilRelease());
  f.def("gelu", [](const Tensor& x, const std::string& a) { return gelu(x, a); }, py::arg("input"),
        py::arg("approximate") = "none", GilRelease());
  f.def("silu", [](const Tensor& x, bool) { return silu(x); }, py::arg("input"), py::arg("inplace") = false, GilRelease());
  f.def("sigmoid", [](const Tensor& x) { return sigmoid(x); }, py::arg("input"), GilRelease());
  f.def("tanh", [](const Tensor& x) { return tanh(x); }, py::arg("input"), GilRelease());
  f.def("softplus", [](const Tensor& x, double b, double t) { return softplus(x, b, t); }, py::arg("input"),
        py::arg("beta") = 1.0, py::arg("threshold") = 20.0, GilRelease());
  f.def("softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }, py::arg("input"), py::arg("dim"),
        GilRelease());
  f.def("log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); }, py::arg("input"),
        py::arg("dim"), GilRelease());
  f.def("one_hot", [](const Tensor& x, int64_t n) { return one_hot(x, n); }, py::arg("tensor"),
        py::arg("num_classes") = -1, GilRelease());
  f.def("cross_entropy", [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, int64_t ignore,
                            const std::string& red, double ls) {
    auto rr = reduction_of(red);
    py::gil_scoped_release r;
    return F::cross_entropy(x, t, opt_tensor(w), ignore, rr, ls);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0);
  f.def("nll_loss", [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, int64_t ignore,
                       const std::string& red) {
    auto rr = reduction_of(red);
    py::gil_scoped_release r;
    return F::nll_loss(x, t, opt_tensor(w), ignore, rr);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean");
#define TESSERA_LOSS2(NAME)                                                                   \
  f.def(#NAME, [](const Tensor& x, const Tensor& t, const std::string& red) {                 \
    auto rr = reduction_of(red);                                                              \
    py::gil_scoped_release r;                                                                 \
    return F::NAME(x, t, rr);                                                                 \
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  TESSERA_LOSS2(mse_loss)
  TESSERA_LOSS2(l1_loss)
#undef TESSERA_LOSS2
  f.def("smooth_l1_loss", [](const Tensor& x, const Tensor& t, const std::string& red, double beta) {
    auto rr = reduction_of(red);
    py::gil_scoped_release r;
    return F::smooth_l1_loss(x, t, rr, beta);
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("beta") = 1.0);
  f.def("binary_cross_entropy", [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, const std::string& red) {
    auto rr = reduction_of(red);
    py::gil_scoped_release r;
    return F::binary_cross_entropy(x, t, opt_tensor(w), rr);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("reduction") = "mean");
  f.def("binary_cross_entropy_with_logits", [](const Tensor& x, const Tensor& t, std::optional<Tensor> w,
                                               const std::string& red, std::optional<Tensor> pw) {
    auto rr = reduction_of(red);
    py::gil_scoped_release r;
    return F::binary_cross_entropy_with_logits(x, t, opt_tensor(w), opt_tensor(pw), rr);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("reduction") = "mean",
        py::arg("pos_weight") = py::none());
  f.def("kl_div", [](const Tensor& x, const Tensor& t, const std::string& red, bool lt) {
    auto rr = reduction_of(red);
    py::gil_scoped_release r;
    return F::kl_div(x, t, rr, lt);
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("log_target") = false);

  // ---- init ----
  auto init = nnm.def_submodule("init", "Parameter initialization (torch.nn.init)");
  auto fan_mode = [](const std::string& mode) {
    if (mode == "fan_in") return nn::init::FanMode::FanIn;
    if (mode == "fan_out") return nn::init::FanMode::FanOut;
    throw py::value_error("mode: expected 'fan_in' or 'fan_out', got '" + mode + "'");
  };
  init.def("calculate_gain", [](const std::string& n, std::optional<double> p) {
    return nn::init::calculate_gain(n, p.value_or(-1));
  }, py::arg("nonlinearity"), py::arg("param") = py::none());
  init.def("_calculate_fan_in_and_fan_out", &nn::init::calculate_fan_in_and_fan_out, py::arg("tensor"));
  init.def("uniform_", &nn::init::uniform_, py::arg("tensor"), py::arg("a") = 0.0, py::arg("b") = 1.0,
           py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  init.def("normal_", &nn::init::normal_, py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0,
           py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  init.def("constant_", &nn::init::constant_, py::arg("tensor"), py::arg("val"), GilRelease());
  init.def("zeros_", &nn::init::zeros_, py::arg("tensor"), GilRelease());
  init.def("ones_", &nn::init::ones_, py::arg("tensor"), GilRelease());
  init.def("xavier_uniform_", &nn::init::xavier_uniform_, py::arg("tensor"), py::arg("gain") = 1.0,
           py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  init.def("xavier_normal_", &nn::init::xavier_normal_, py::arg("tensor"), py::arg("gain") = 1.0,
           py::kw_only(), py::arg("generator") = nullptr, GilRelease());
  init.def("kaiming_uniform_", [fan_mode](const Tensor& t, double a, const std::string& mode, const std::string& nl,
                                          Generator* g) {
    auto fm = fan_mode(mode);
    py::gil_scoped_release r;
    return nn::init::kaiming_uniform_(t, a, fm, nl, g);
  }, py::arg("tensor"), py::arg("a") = 0.0, py::arg("mode") = "fan_in", py::arg("nonlinearity") = "leaky_relu",
           py::kw_only(), py::arg("generator") = nullptr);
  init.def("kaiming_normal_", [fan_mode](const Tensor& t, double a, const std::string& mode, const std::string& nl,
                                         Generator* g) {
    auto fm = fan_mode(mode);
    py::gil_scoped_release r;
    return nn::init::kaiming_normal_(t, a, fm, nl, g);
  }, py::arg("tensor"), py::arg("a") = 0.0, py::arg("mode") = "fan_in", py::arg("nonlinearity") = "leaky_relu",
           py::kw_only(), py::arg("generator") = nullptr);
}

}  // namespace tessera::python
