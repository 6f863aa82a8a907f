// tessera._C.train: fit / evaluate / predict, metrics and callbacks. Python callables
// (the loss, callbacks, a Python model's forward) run with the GIL taken for their call
// only; the loop itself runs without it.
#include <iostream>

#include "common.h"

namespace tessera::python {
namespace {

using train::Logs;

train::LossFn as_loss(py::handle loss) {
  if (loss.is_none()) return {};
  if (py::isinstance<py::str>(loss)) {
    const std::string name = loss.cast<std::string>();
    namespace F = nn::functional;
    if (name == "cross_entropy")
      return [](const Tensor& o, const Tensor& y) { return F::cross_entropy(o, y); };
    if (name == "mse_loss") return [](const Tensor& o, const Tensor& y) { return F::mse_loss(o, y); };
    if (name == "l1_loss") return [](const Tensor& o, const Tensor& y) { return F::l1_loss(o, y); };
    if (name == "nll_loss") return [](const Tensor& o, const Tensor& y) { return F::nll_loss(o, y); };
    if (name == "binary_cross_entropy_with_logits")
      return [](const Tensor& o, const Tensor& y) { return F::binary_cross_entropy_with_logits(o, y); };
    throw py::value_error("loss: unknown name '" + name +
                          "' (cross_entropy, mse_loss, l1_loss, nll_loss, binary_cross_entropy_with_logits)"
                          " or pass a callable");
  }
  if (!PyCallable_Check(loss.ptr())) throw py::type_error("loss: expected a callable or a name");
  auto fn = std::make_shared<py::object>(py::reinterpret_borrow<py::object>(loss));
  return [fn](const Tensor& o, const Tensor& y) -> Tensor {
    py::gil_scoped_acquire g;
    return (*fn)(o, y).cast<Tensor>();
  };
}

std::vector<std::shared_ptr<train::Metric>> as_metrics(py::handle metrics) {
  std::vector<std::shared_ptr<train::Metric>> out;
  if (metrics.is_none()) return out;
  for (auto mm : metrics) {
    if (py::isinstance<py::str>(mm)) {
      const std::string name = mm.cast<std::string>();
      if (name == "accuracy" || name == "acc") out.push_back(std::make_shared<train::Accuracy>());
      else if (name == "top5_accuracy") out.push_back(std::make_shared<train::TopKAccuracy>(5));
      else throw py::value_error("metrics: unknown name '" + name + "' (accuracy, top5_accuracy) or a Metric");
    } else {
      out.push_back(mm.cast<std::shared_ptr<train::Metric>>());
    }
  }
  return out;
}

py::dict logs_dict(const Logs& logs) {
  py::dict d;
  for (auto& [k, v] : logs) d[py::str(k)] = v;
  return d;
}

// A Python callback object: any of on_train_begin(ctx), on_train_end(ctx),
// on_epoch_begin(epoch, ctx), on_epoch_end(epoch, logs, ctx), on_batch_end(batch, logs, ctx).
class PythonCallback : public train::Callback {
 public:
  explicit PythonCallback(py::object obj) : obj_(new py::object(std::move(obj))) {}
  ~PythonCallback() override {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire g;
    delete obj_;
  }
  void on_train_begin(train::TrainContext& ctx) override { call("on_train_begin", ctx); }
  void on_train_end(train::TrainContext& ctx) override { call("on_train_end", ctx); }
  void on_epoch_begin(int64_t epoch, train::TrainContext& ctx) override {
    call("on_epoch_begin", ctx, py::int_(epoch));
  }
  void on_epoch_end(int64_t epoch, Logs& logs, train::TrainContext& ctx) override {
    py::gil_scoped_acquire g;
    if (!py::hasattr(*obj_, "on_epoch_end")) return;
    py::dict d = logs_dict(logs);
    obj_->attr("on_epoch_end")(epoch, d, py::cast(&ctx, py::return_value_policy::reference));
    // Keys a callback added or changed reach the History, as the C++ API allows.
    for (auto kv : d) logs[kv.first.cast<std::string>()] = kv.second.cast<double>();
  }
  void on_batch_end(int64_t batch, const Logs& logs, train::TrainContext& ctx) override {
    py::gil_scoped_acquire g;
    if (!py::hasattr(*obj_, "on_batch_end")) return;
    obj_->attr("on_batch_end")(batch, logs_dict(logs), py::cast(&ctx, py::return_value_policy::reference));
  }

 private:
  template <typename... A>
  void call(const char* name, train::TrainContext& ctx, A... args) {
    py::gil_scoped_acquire g;
    if (!py::hasattr(*obj_, name)) return;
    obj_->attr(name)(args..., py::cast(&ctx, py::return_value_policy::reference));
  }
  py::object* obj_;
};

std::vector<std::shared_ptr<train::Callback>> as_callbacks(py::handle cbs) {
  std::vector<std::shared_ptr<train::Callback>> out;
  if (cbs.is_none()) return out;
  for (auto c : cbs) {
    if (py::isinstance<train::Callback>(c)) out.push_back(c.cast<std::shared_ptr<train::Callback>>());
    else out.push_back(std::make_shared<PythonCallback>(py::reinterpret_borrow<py::object>(c)));
  }
  return out;
}

train::Mode mode_of(const std::string& m) {
  if (m == "auto") return train::Mode::Auto;
  if (m == "min") return train::Mode::Min;
  if (m == "max") return train::Mode::Max;
  throw py::value_error("mode: expected 'auto', 'min' or 'max', got '" + m + "'");
}

py::dict history_dict(const train::History& h) {
  py::dict d;
  for (const auto& logs : h.epochs)
    for (auto& [k, v] : logs) {
      py::str key(k);
      if (!d.contains(key)) d[key] = py::list();
      d[key].cast<py::list>().append(v);
    }
  return d;
}

}  // namespace

void init_train(py::module_& m) {
  auto t = m.def_submodule("train", "Keras-style fit / evaluate / predict");

  py::class_<train::Metric, std::shared_ptr<train::Metric>>(t, "Metric")
      .def_property_readonly("name", &train::Metric::name)
      .def("update", &train::Metric::update, py::arg("output"), py::arg("target"), GilRelease())
      .def("result", &train::Metric::result)
      .def("reset", &train::Metric::reset);
  py::class_<train::Accuracy, train::Metric, std::shared_ptr<train::Accuracy>>(t, "Accuracy")
      .def(py::init<double>(), py::arg("threshold") = 0.0);
  py::class_<train::TopKAccuracy, train::Metric, std::shared_ptr<train::TopKAccuracy>>(t, "TopKAccuracy")
      .def(py::init<int64_t>(), py::arg("k") = 5);
  py::class_<train::ConfusionMatrix, train::Metric, std::shared_ptr<train::ConfusionMatrix>>(t, "ConfusionMatrix")
      .def(py::init<int64_t>(), py::arg("num_classes"))
      .def("matrix", &train::ConfusionMatrix::matrix)
      .def("__str__", &train::ConfusionMatrix::to_string);

  py::class_<train::TrainContext>(t, "TrainContext")
      .def_property_readonly("model", [](train::TrainContext& c) { return c.model.shared_from_this(); })
      .def_readonly("epochs", &train::TrainContext::epochs)
      .def_readonly("steps_per_epoch", &train::TrainContext::steps_per_epoch)
      .def_property_readonly("history", [](train::TrainContext& c) { return history_dict(c.history); })
      .def_readwrite("stop_training", &train::TrainContext::stop_training);

  py::class_<train::Callback, std::shared_ptr<train::Callback>>(t, "_Callback");
  py::class_<train::EarlyStopping, train::Callback, std::shared_ptr<train::EarlyStopping>>(t, "EarlyStopping")
      .def(py::init([](const std::string& monitor, int64_t patience, double min_delta, const std::string& mode,
                       bool restore) {
             return std::make_shared<train::EarlyStopping>(monitor, patience, min_delta, mode_of(mode), restore);
           }),
           py::arg("monitor") = "val_loss", py::arg("patience") = 0, py::arg("min_delta") = 0.0,
           py::arg("mode") = "auto", py::arg("restore_best_weights") = false)
      .def_property_readonly("stopped_epoch", &train::EarlyStopping::stopped_epoch)
      .def_property_readonly("best_epoch", &train::EarlyStopping::best_epoch)
      .def_property_readonly("best", &train::EarlyStopping::best);
  py::class_<train::ModelCheckpoint, train::Callback, std::shared_ptr<train::ModelCheckpoint>>(t, "ModelCheckpoint")
      .def(py::init([](const std::string& path, const std::string& monitor, bool best_only, const std::string& mode) {
             return std::make_shared<train::ModelCheckpoint>(path, monitor, best_only, mode_of(mode));
           }),
           py::arg("filepath"), py::arg("monitor") = "val_loss", py::arg("save_best_only") = true,
           py::arg("mode") = "auto")
      .def_property_readonly("saved", &train::ModelCheckpoint::saved);
  py::class_<train::CSVLogger, train::Callback, std::shared_ptr<train::CSVLogger>>(t, "CSVLogger")
      .def(py::init<std::string, char, bool>(), py::arg("filename"), py::arg("separator") = ',',
           py::arg("append") = false);
  py::class_<train::LRSchedulerCallback, train::Callback, std::shared_ptr<train::LRSchedulerCallback>>(
      t, "LearningRateScheduler")
      .def(py::init<std::shared_ptr<optim::LRScheduler>, bool>(), py::arg("scheduler"),
           py::arg("per_batch") = false)
      .def(py::init<std::shared_ptr<optim::ReduceLROnPlateau>, std::string>(), py::arg("scheduler"),
           py::arg("monitor") = "val_loss");

  t.def("fit",
        [](std::shared_ptr<nn::Module> model, data::DataLoader& loader, int64_t epochs,
           std::shared_ptr<optim::Optimizer> optimizer, py::handle loss, py::handle metrics,
           std::shared_ptr<data::DataLoader> validation, py::handle callbacks, int verbose, double clip) {
          if (!optimizer) throw py::value_error("fit: an optimizer is required");
          train::FitOptions o;
          o.epochs = epochs;
          o.optimizer = optimizer.get();
          o.loss = as_loss(loss);
          if (!o.loss) throw py::value_error("fit: a loss is required");
          o.metrics = as_metrics(metrics);
          o.validation = validation.get();
          o.callbacks = as_callbacks(callbacks);
          o.verbose = verbose;
          o.clip_grad_norm = clip;
          // Python's sys.stdout may be a file or a capture; the bar only redraws on a tty.
          o.tty = -1;
          train::History h;
          {
            py::gil_scoped_release r;
            h = train::fit(*model, loader, o);
            std::cout.flush();
          }
          return history_dict(h);
        },
        py::arg("model"), py::arg("train_data"), py::kw_only(), py::arg("epochs") = 1,
        py::arg("optimizer") = nullptr, py::arg("loss") = py::none(), py::arg("metrics") = py::none(),
        py::arg("validation_data") = nullptr, py::arg("callbacks") = py::none(), py::arg("verbose") = 1,
        py::arg("clip_grad_norm") = 0.0,
        "Trains the model; returns the history as {key: [value per epoch]}.");
  t.def("evaluate",
        [](std::shared_ptr<nn::Module> model, data::DataLoader& loader, py::handle loss, py::handle metrics) {
          auto l = as_loss(loss);
          auto ms = as_metrics(metrics);
          Logs logs;
          {
            py::gil_scoped_release r;
            logs = train::evaluate(*model, loader, l, ms);
          }
          return logs_dict(logs);
        },
        py::arg("model"), py::arg("data"), py::kw_only(), py::arg("loss") = py::none(),
        py::arg("metrics") = py::none());
  t.def("predict",
        [](std::shared_ptr<nn::Module> model, py::handle data, int64_t batch_size) {
          if (py::isinstance<Tensor>(data)) {
            Tensor x = data.cast<Tensor>();
            py::gil_scoped_release r;
            return train::predict(*model, x, batch_size);
          }
          auto& loader = data.cast<data::DataLoader&>();
          py::gil_scoped_release r;
          return train::predict(*model, loader);
        },
        py::arg("model"), py::arg("data"), py::arg("batch_size") = 256);
}

}  // namespace tessera::python
