// tessera._C.optim: optimizers, gradient clipping and schedulers with PyTorch's names and
// keyword arguments: optim.Adam(model.parameters(), lr=1e-3).
#include "common.h"

namespace tessera::python {
namespace {

using optim::Optimizer;
using optim::ParamGroup;

// params: an iterable of tensors, or of dicts {"params": [...], "lr": ...} (param groups).
std::vector<ParamGroup> groups_of(py::handle params) {
  std::vector<ParamGroup> groups;
  py::list items = py::list(py::iter(params));
  if (items.size() == 0) throw py::value_error("optimizer got an empty parameter list");
  if (py::isinstance<py::dict>(items[0])) {
    for (auto item : items) {
      py::dict d = item.cast<py::dict>();
      if (!d.contains("params")) throw py::value_error("param group: missing 'params'");
      ParamGroup g;
      for (auto p : py::iter(d["params"])) g.params.push_back(p.cast<Tensor>());
      for (auto kv : d) {
        std::string k = kv.first.cast<std::string>();
        if (k == "params") continue;
        if (k == "betas") {
          auto b = kv.second.cast<std::pair<double, double>>();
          g.options["beta1"] = b.first;
          g.options["beta2"] = b.second;
        } else {
          g.options[k] = kv.second.cast<double>();
        }
      }
      groups.push_back(std::move(g));
    }
    return groups;
  }
  ParamGroup g;
  for (auto p : items) {
    if (!py::isinstance<Tensor>(p))
      throw py::type_error("optimizer params: expected tensors or dicts, got " +
                           py::str(py::type::handle_of(p)).cast<std::string>());
    g.params.push_back(p.cast<Tensor>());
  }
  groups.push_back(std::move(g));
  return groups;
}

// One param group seen as a dict: group["lr"] = 0.1 changes the optimizer.
struct GroupRef {
  std::shared_ptr<Optimizer> opt;
  size_t index;
  ParamGroup& g() const { return opt->param_groups().at(index); }
};

template <typename T>
using OptCls = py::class_<T, Optimizer, std::shared_ptr<T>>;

template <typename T>
using SchedCls = py::class_<T, optim::LRScheduler, std::shared_ptr<T>>;

}  // namespace

void init_optim(py::module_& m) {
  auto o = m.def_submodule("optim", "Optimizers and learning-rate schedulers (torch.optim)");

  py::class_<GroupRef>(o, "ParamGroup")
      .def("__getitem__", [](const GroupRef& r, const std::string& k) -> py::object {
        if (k == "params") return py::cast(r.g().params);
        if (k == "betas" && r.g().has("beta1")) return py::make_tuple(r.g().get("beta1"), r.g().get("beta2"));
        if (!r.g().has(k)) {
          auto d = r.opt->defaults();
          if (d.count(k)) return py::float_(d.at(k));
          throw py::key_error(k);
        }
        return py::float_(r.g().get(k));
      })
      .def("__setitem__", [](GroupRef& r, const std::string& k, py::handle v) {
        if (k == "params") throw py::value_error("param group: 'params' cannot be replaced");
        if (k == "betas") {
          auto b = v.cast<std::pair<double, double>>();
          r.g().set("beta1", b.first);
          r.g().set("beta2", b.second);
          return;
        }
        r.g().set(k, v.cast<double>());
      })
      .def("__contains__", [](const GroupRef& r, const std::string& k) { return k == "params" || r.g().has(k); })
      .def("keys", [](const GroupRef& r) {
        std::vector<std::string> ks{"params"};
        for (auto& [k, v] : r.g().options) ks.push_back(k);
        return ks;
      })
      .def("__repr__", [](const GroupRef& r) {
        std::string s = "{'params': [" + std::to_string(r.g().params.size()) + " tensors]";
        for (auto& [k, v] : r.g().options) s += ", '" + k + "': " + nn::repr::py_float(v);
        return s + "}";
      });

  py::class_<Optimizer, std::shared_ptr<Optimizer>>(o, "Optimizer")
      .def("step", [](Optimizer& opt, py::object closure) -> py::object {
        py::object loss = py::none();
        if (!closure.is_none()) {
          autograd::EnableGradGuard g;
          loss = closure();
        }
        py::gil_scoped_release r;
        opt.step();
        return loss;
      }, py::arg("closure") = py::none())
      .def("zero_grad", &Optimizer::zero_grad, py::arg("set_to_none") = true)
      .def("add_param_group", [](Optimizer& opt, py::dict group) {
        auto gs = groups_of(py::make_tuple(group));
        opt.add_param_group(gs[0]);
      }, py::arg("param_group"))
      .def_property_readonly("param_groups", [](std::shared_ptr<Optimizer> opt) {
        std::vector<GroupRef> out;
        for (size_t i = 0; i < opt->param_groups().size(); ++i) out.push_back({opt, i});
        return out;
      })
      .def_property_readonly("defaults", &Optimizer::defaults)
      .def("state_dict", &Optimizer::state_dict)
      .def("load_state_dict", &Optimizer::load_state_dict, py::arg("state_dict"))
      .def("__repr__", [](const Optimizer& opt) {
        std::string s = opt.name() + " (";
        for (size_t i = 0; i < opt.param_groups().size(); ++i) {
          s += "\nParameter Group " + std::to_string(i);
          for (auto& [k, v] : opt.param_groups()[i].options) s += "\n    " + k + ": " + nn::repr::py_float(v);
        }
        return s + "\n)";
      });

  OptCls<optim::SGD>(o, "SGD")
      .def(py::init([](py::handle params, double lr, double momentum, double dampening, double wd, bool nesterov) {
             optim::SGDOptions op{lr, momentum, dampening, wd, nesterov};
             return std::make_shared<optim::SGD>(groups_of(params), op);
           }),
           py::arg("params"), py::arg("lr") = 1e-3, py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
           py::arg("weight_decay") = 0.0, py::arg("nesterov") = false);
  auto adam_init = [](bool decoupled) {
    return [decoupled](py::handle params, double lr, std::pair<double, double> betas, double eps,
                       std::optional<double> wd, bool amsgrad) {
      optim::AdamOptions op;
      op.lr = lr;
      op.beta1 = betas.first;
      op.beta2 = betas.second;
      op.eps = eps;
      op.weight_decay = wd.value_or(decoupled ? 1e-2 : 0.0);
      op.amsgrad = amsgrad;
      if (decoupled) return std::shared_ptr<optim::Adam>(std::make_shared<optim::AdamW>(groups_of(params), op));
      return std::make_shared<optim::Adam>(groups_of(params), op);
    };
  };
  OptCls<optim::Adam>(o, "Adam")
      .def(py::init(adam_init(false)), py::arg("params"), py::arg("lr") = 1e-3,
           py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
           py::arg("weight_decay") = py::none(), py::arg("amsgrad") = false);
  py::class_<optim::AdamW, optim::Adam, std::shared_ptr<optim::AdamW>>(o, "AdamW")
      .def(py::init([](py::handle params, double lr, std::pair<double, double> betas, double eps, double wd,
                       bool amsgrad) {
             optim::AdamOptions op;
             op.lr = lr;
             op.beta1 = betas.first;
             op.beta2 = betas.second;
             op.eps = eps;
             op.weight_decay = wd;
             op.amsgrad = amsgrad;
             return std::make_shared<optim::AdamW>(groups_of(params), op);
           }),
           py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999),
           py::arg("eps") = 1e-8, py::arg("weight_decay") = 1e-2, py::arg("amsgrad") = false);
  OptCls<optim::RMSprop>(o, "RMSprop")
      .def(py::init([](py::handle params, double lr, double alpha, double eps, double wd, double momentum,
                       bool centered) {
             optim::RMSpropOptions op{lr, alpha, eps, wd, momentum, centered};
             return std::make_shared<optim::RMSprop>(groups_of(params), op);
           }),
           py::arg("params"), py::arg("lr") = 1e-2, py::arg("alpha") = 0.99, py::arg("eps") = 1e-8,
           py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("centered") = false);
  OptCls<optim::Adagrad>(o, "Adagrad")
      .def(py::init([](py::handle params, double lr, double lr_decay, double wd, double init, double eps) {
             optim::AdagradOptions op{lr, lr_decay, wd, init, eps};
             return std::make_shared<optim::Adagrad>(groups_of(params), op);
           }),
           py::arg("params"), py::arg("lr") = 1e-2, py::arg("lr_decay") = 0.0, py::arg("weight_decay") = 0.0,
           py::arg("initial_accumulator_value") = 0.0, py::arg("eps") = 1e-10);
  OptCls<optim::Adadelta>(o, "Adadelta")
      .def(py::init([](py::handle params, double lr, double rho, double eps, double wd) {
             optim::AdadeltaOptions op{lr, rho, eps, wd};
             return std::make_shared<optim::Adadelta>(groups_of(params), op);
           }),
           py::arg("params"), py::arg("lr") = 1.0, py::arg("rho") = 0.9, py::arg("eps") = 1e-6,
           py::arg("weight_decay") = 0.0);

  o.def("clip_grad_norm_", [](py::handle params, double max_norm, double norm_type, bool err) {
    std::vector<Tensor> ps;
    if (py::isinstance<Tensor>(params)) ps.push_back(params.cast<Tensor>());
    else for (auto p : py::iter(params)) ps.push_back(p.cast<Tensor>());
    py::gil_scoped_release r;
    return optim::clip_grad_norm_(ps, max_norm, norm_type, err);
  }, py::arg("parameters"), py::arg("max_norm"), py::arg("norm_type") = 2.0, py::arg("error_if_nonfinite") = false);
  o.def("clip_grad_value_", [](py::handle params, double v) {
    std::vector<Tensor> ps;
    if (py::isinstance<Tensor>(params)) ps.push_back(params.cast<Tensor>());
    else for (auto p : py::iter(params)) ps.push_back(p.cast<Tensor>());
    py::gil_scoped_release r;
    optim::clip_grad_value_(ps, v);
  }, py::arg("parameters"), py::arg("clip_value"));

  // ---- schedulers: each keeps its optimizer alive (keep_alive<1, 2>) ----
  auto lr_sched = o.def_submodule("lr_scheduler", "Learning-rate schedulers (torch.optim.lr_scheduler)");
  py::class_<optim::LRScheduler, std::shared_ptr<optim::LRScheduler>>(lr_sched, "LRScheduler")
      .def("step", &optim::LRScheduler::step)
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_property_readonly("last_epoch", &optim::LRScheduler::last_epoch)
      .def_property_readonly("base_lrs", &optim::LRScheduler::base_lrs)
      .def("state_dict", &optim::LRScheduler::state_dict)
      .def("load_state_dict", &optim::LRScheduler::load_state_dict, py::arg("state_dict"));
  SchedCls<optim::StepLR>(lr_sched, "StepLR")
      .def(py::init<Optimizer&, int64_t, double>(), py::arg("optimizer"), py::arg("step_size"),
           py::arg("gamma") = 0.1, py::keep_alive<1, 2>());
  SchedCls<optim::MultiStepLR>(lr_sched, "MultiStepLR")
      .def(py::init<Optimizer&, std::vector<int64_t>, double>(), py::arg("optimizer"), py::arg("milestones"),
           py::arg("gamma") = 0.1, py::keep_alive<1, 2>());
  SchedCls<optim::ExponentialLR>(lr_sched, "ExponentialLR")
      .def(py::init<Optimizer&, double>(), py::arg("optimizer"), py::arg("gamma"), py::keep_alive<1, 2>());
  SchedCls<optim::CosineAnnealingLR>(lr_sched, "CosineAnnealingLR")
      .def(py::init<Optimizer&, int64_t, double>(), py::arg("optimizer"), py::arg("T_max"),
           py::arg("eta_min") = 0.0, py::keep_alive<1, 2>());
  SchedCls<optim::CosineAnnealingWarmRestarts>(lr_sched, "CosineAnnealingWarmRestarts")
      .def(py::init<Optimizer&, int64_t, int64_t, double>(), py::arg("optimizer"), py::arg("T_0"),
           py::arg("T_mult") = 1, py::arg("eta_min") = 0.0, py::keep_alive<1, 2>());
  SchedCls<optim::LinearLR>(lr_sched, "LinearLR")
      .def(py::init<Optimizer&, double, double, int64_t>(), py::arg("optimizer"),
           py::arg("start_factor") = 1.0 / 3, py::arg("end_factor") = 1.0, py::arg("total_iters") = 5,
           py::keep_alive<1, 2>());
  SchedCls<optim::OneCycleLR>(lr_sched, "OneCycleLR")
      .def(py::init([](Optimizer& opt, double max_lr, std::optional<int64_t> total, std::optional<int64_t> epochs,
                       std::optional<int64_t> steps, double pct, const std::string& strategy, bool cycle,
                       double base_m, double max_m, double div, double final_div, bool three) {
             int64_t t = total ? *total : (epochs && steps ? *epochs * *steps : -1);
             if (t <= 0) throw py::value_error("OneCycleLR: give total_steps, or epochs and steps_per_epoch");
             if (strategy != "cos" && strategy != "linear")
               throw py::value_error("OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '" + strategy + "'");
             optim::OneCycleOptions op;
             op.pct_start = pct;
             op.cos_anneal = strategy == "cos";
             op.div_factor = div;
             op.final_div_factor = final_div;
             op.three_phase = three;
             op.cycle_momentum = cycle;
             op.base_momentum = base_m;
             op.max_momentum = max_m;
             return std::make_shared<optim::OneCycleLR>(opt, max_lr, t, op);
           }),
           py::arg("optimizer"), py::arg("max_lr"), py::arg("total_steps") = py::none(),
           py::arg("epochs") = py::none(), py::arg("steps_per_epoch") = py::none(), py::arg("pct_start") = 0.3,
           py::arg("anneal_strategy") = "cos", py::arg("cycle_momentum") = true, py::arg("base_momentum") = 0.85,
           py::arg("max_momentum") = 0.95, py::arg("div_factor") = 25.0, py::arg("final_div_factor") = 1e4,
           py::arg("three_phase") = false, py::keep_alive<1, 2>());
  py::class_<optim::ReduceLROnPlateau, std::shared_ptr<optim::ReduceLROnPlateau>>(lr_sched, "ReduceLROnPlateau")
      .def(py::init([](Optimizer& opt, const std::string& mode, double factor, int64_t patience, double threshold,
                       const std::string& tmode, int64_t cooldown, double min_lr, double eps) {
             optim::PlateauOptions op;
             op.mode = mode;
             op.factor = factor;
             op.patience = patience;
             op.threshold = threshold;
             op.threshold_mode = tmode;
             op.cooldown = cooldown;
             op.min_lr = min_lr;
             op.eps = eps;
             return std::make_shared<optim::ReduceLROnPlateau>(opt, op);
           }),
           py::arg("optimizer"), py::arg("mode") = "min", py::arg("factor") = 0.1, py::arg("patience") = 10,
           py::arg("threshold") = 1e-4, py::arg("threshold_mode") = "rel", py::arg("cooldown") = 0,
           py::arg("min_lr") = 0.0, py::arg("eps") = 1e-8, py::keep_alive<1, 2>())
      .def("step", &optim::ReduceLROnPlateau::step, py::arg("metrics"))
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr)
      .def_property_readonly("best", &optim::ReduceLROnPlateau::best)
      .def_property_readonly("num_bad_epochs", &optim::ReduceLROnPlateau::num_bad_epochs)
      .def("state_dict", &optim::ReduceLROnPlateau::state_dict)
      .def("load_state_dict", &optim::ReduceLROnPlateau::load_state_dict, py::arg("state_dict"));
}

}  // namespace tessera::python
