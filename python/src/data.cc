// tessera._C.data: datasets and the DataLoader. A Python dataset (anything with __len__
// and __getitem__ returning (input, target)) runs inside the C++ loader through an
// adapter that takes the GIL for each example; C++ datasets (FashionMNIST,
// TensorDataset) never touch Python.
#include "common.h"

namespace tessera::python {
namespace {

Tensor to_tensor(py::handle h) {
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  return tensor_from_data(h, std::nullopt);
}

class PythonDataset : public data::Dataset {
 public:
  explicit PythonDataset(py::object obj) : obj_(new py::object(std::move(obj))) {}
  ~PythonDataset() override {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire g;
    delete obj_;
  }
  int64_t size() const override {
    py::gil_scoped_acquire g;
    return py::len(*obj_);
  }
  data::Example get(int64_t index) const override {
    py::gil_scoped_acquire g;
    py::object item = (*obj_)[py::int_(index)];
    if (py::isinstance<py::tuple>(item) || py::isinstance<py::list>(item)) {
      py::sequence s = item;
      TESSERA_CHECK(s.size() == 2, "Dataset[", index, "]: expected (input, target), got ", s.size(),
                    " items");
      return {to_tensor(s[0]), to_tensor(s[1])};
    }
    return {to_tensor(item), Tensor()};
  }
  const py::object& object() const { return *obj_; }

 private:
  py::object* obj_;  // deleted under the GIL
};

std::shared_ptr<const data::Dataset> as_dataset(py::handle ds) {
  if (py::isinstance<data::Dataset>(ds)) return ds.cast<std::shared_ptr<data::Dataset>>();
  if (!py::hasattr(ds, "__len__") || !py::hasattr(ds, "__getitem__"))
    throw py::type_error("DataLoader: expected a dataset (with __len__ and __getitem__), got " +
                         py::str(py::type::handle_of(ds)).cast<std::string>());
  return std::make_shared<PythonDataset>(py::reinterpret_borrow<py::object>(ds));
}

data::Transform as_transform(py::handle t) {
  if (t.is_none()) return {};
  if (py::isinstance<data::Normalize>(t)) return t.cast<data::Normalize>();
  if (py::isinstance<data::RandomCrop>(t)) return t.cast<data::RandomCrop>();
  if (py::isinstance<data::RandomHorizontalFlip>(t)) return t.cast<data::RandomHorizontalFlip>();
  if (py::isinstance<data::Compose>(t)) return t.cast<data::Compose>();
  if (py::isinstance<data::ToTensor>(t)) return t.cast<data::ToTensor>();
  if (!PyCallable_Check(t.ptr())) throw py::type_error("transform: expected a callable");
  // Released under the GIL: the last copy of the transform may go on a loader thread (a
  // dataset holding it, freed by a worker), where a bare py::object would decref unlocked.
  std::shared_ptr<py::object> fn(new py::object(py::reinterpret_borrow<py::object>(t)), [](py::object* o) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire g;
    delete o;
  });
  return [fn](const Tensor& x, Generator&) -> Tensor {
    py::gil_scoped_acquire g;
    return to_tensor((*fn)(x));
  };
}

struct LoaderIter {
  std::shared_ptr<data::DataLoader> loader;
  data::DataLoader::Iterator it;
  bool started = false;

  LoaderIter() = default;
  LoaderIter(LoaderIter&&) = default;
  LoaderIter& operator=(LoaderIter&&) = default;
  // The last handle on an epoch joins its worker threads, which may be waiting for the GIL
  // to call a Python dataset: Python frees this object holding the GIL, so the join must
  // run without it, or the two wait on each other forever (seen in pytest under load).
  ~LoaderIter() {
    if (!started || PyGILState_Check() == 0) return;
    py::gil_scoped_release release;
    it = data::DataLoader::Iterator();
  }
};

}  // namespace

void init_data(py::module_& m) {
  auto d = m.def_submodule("data", "Datasets, transforms and the DataLoader");
  py::class_<data::Dataset, std::shared_ptr<data::Dataset>>(d, "Dataset")
      .def("__len__", &data::Dataset::size)
      .def("__getitem__", [](const data::Dataset& ds, int64_t i) {
        const int64_t n = ds.size();
        if (i < -n || i >= n) throw py::index_error("dataset index " + std::to_string(i) + " out of range");
        data::Example e = ds.get(i < 0 ? i + n : i);
        return py::make_tuple(e.input, e.target.defined() ? py::cast(e.target) : py::none());
      });
  py::class_<data::TensorDataset, data::Dataset, std::shared_ptr<data::TensorDataset>>(d, "TensorDataset")
      .def(py::init<Tensor, Tensor>(), py::arg("inputs"), py::arg("targets"))
      .def_property_readonly("tensors", [](const data::TensorDataset& t) {
        return py::make_tuple(t.inputs(), t.targets());
      });
  py::class_<data::FashionMNIST, data::Dataset, std::shared_ptr<data::FashionMNIST>>(d, "FashionMNIST")
      .def(py::init<std::string, bool>(), py::arg("root") = "", py::arg("train") = true, GilRelease(),
           "Fashion-MNIST from $TESSERA_FASHION_MNIST or /usr/share/datasets/fashion-mnist: "
           "images float32 [1, 28, 28] in [0, 1], labels int64.")
      .def_property_readonly("data", &data::FashionMNIST::images)
      .def_property_readonly("targets", &data::FashionMNIST::labels)
      .def_property_readonly_static("classes", [](py::handle) { return data::FashionMNIST::class_names(); });

  // torchvision's MNIST / FashionMNIST (tessera.datasets subclasses this with the kind
  // fixed): raw u8 [28, 28] images through the given transforms, all in C++ when the
  // transforms are Tessera's, so the loader never enters Python per example.
  py::class_<data::MNIST, data::Dataset, std::shared_ptr<data::MNIST>>(d, "MNIST")
      .def(py::init([](const std::string& root, bool train, py::handle transform, py::handle target_transform,
                       bool download, const std::string& kind) {
             if (kind != "mnist" && kind != "fashion")
               throw py::value_error("MNIST: kind must be 'mnist' or 'fashion', got '" + kind + "'");
             // `download` is accepted for torchvision's signature; the files must be here
             // already (a missing file's error says so), as nothing is ever downloaded.
             (void)download;
             data::Transform tf = as_transform(transform), ttf = as_transform(target_transform);
             py::gil_scoped_release r;
             return std::make_shared<data::MNIST>(
                 root, train, std::move(tf), std::move(ttf),
                 kind == "mnist" ? data::MNIST::Kind::MNIST : data::MNIST::Kind::FashionMNIST);
           }),
           py::arg("root") = "", py::arg("train") = true, py::arg("transform") = py::none(),
           py::arg("target_transform") = py::none(), py::arg("download") = false, py::kw_only(),
           py::arg("kind") = "mnist")
      .def_property_readonly("data", &data::MNIST::images)
      .def_property_readonly("targets", &data::MNIST::labels)
      .def_property_readonly("classes", &data::MNIST::class_names);
  py::class_<data::ToTensor>(d, "ToTensor")
      .def(py::init<>())
      .def("__call__", [](const data::ToTensor& t, py::handle pic) {
        // A NumPy array or anything array-like (torchvision takes PIL images and arrays).
        Tensor x = to_tensor(pic);
        py::gil_scoped_release r;
        Generator g;
        return t(x, g);
      }, py::arg("pic"))
      .def("__repr__", [](const data::ToTensor&) { return "ToTensor()"; });
  py::class_<data::Normalize>(d, "Normalize")
      .def(py::init([](py::handle mean, py::handle std) {
             auto vec = [](py::handle h) {
               if (py::isinstance<py::float_>(h) || py::isinstance<py::int_>(h)) return std::vector<double>{h.cast<double>()};
               return h.cast<std::vector<double>>();
             };
             return data::Normalize(vec(mean), vec(std));
           }),
           py::arg("mean"), py::arg("std"))
      .def("__call__", [](const data::Normalize& n, const Tensor& x) {
        Generator g;
        return n(x, g);
      }, GilRelease());
  py::class_<data::RandomCrop>(d, "RandomCrop")
      .def(py::init<int64_t, int64_t, double>(), py::arg("size"), py::arg("padding") = 0, py::arg("fill") = 0.0)
      .def("__call__", [](const data::RandomCrop& c, const Tensor& x, Generator* g) {
        return c(x, g ? *g : current_generator());
      }, py::arg("x"), py::arg("generator") = nullptr, GilRelease());
  py::class_<data::RandomHorizontalFlip>(d, "RandomHorizontalFlip")
      .def(py::init<double>(), py::arg("p") = 0.5)
      .def("__call__", [](const data::RandomHorizontalFlip& c, const Tensor& x, Generator* g) {
        return c(x, g ? *g : current_generator());
      }, py::arg("x"), py::arg("generator") = nullptr, GilRelease());
  py::class_<data::Compose>(d, "Compose")
      .def(py::init([](py::handle ts) {
             if (!py::isinstance<py::sequence>(ts) || py::isinstance<py::str>(ts))
               throw py::type_error("Compose: expected a list of transforms, got " +
                                    py::str(py::type::handle_of(ts)).cast<std::string>());
             std::vector<data::Transform> v;
             for (auto t : py::reinterpret_borrow<py::sequence>(ts)) v.push_back(as_transform(t));
             return data::Compose(std::move(v));
           }),
           py::arg("transforms"))
      .def("__call__", [](const data::Compose& c, py::handle pic) {
        // Arrays too, as torchvision's Compose([ToTensor(), ...]) takes them.
        Tensor x = to_tensor(pic);
        Generator g;
        return c(x, g);
      }, py::arg("pic"));

  py::class_<LoaderIter>(d, "_LoaderIterator")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", [](LoaderIter& li) {
        data::Batch b;
        {
          py::gil_scoped_release r;
          if (!li.started) {
            li.it = li.loader->begin();
            li.started = true;
          } else {
            ++li.it;
          }
          if (li.it == data::DataLoader::Sentinel{}) {
            py::gil_scoped_acquire g;
            throw py::stop_iteration();
          }
          b = *li.it;
        }
        return py::make_tuple(b.input, b.target.defined() ? py::cast(b.target) : py::none());
      });

  py::class_<data::DataLoader, std::shared_ptr<data::DataLoader>>(d, "DataLoader")
      .def(py::init([](py::handle dataset, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last,
                       int num_workers, int prefetch, py::handle transform) {
             data::DataLoaderOptions o;
             o.batch_size = batch_size;
             o.shuffle = shuffle;
             o.seed = seed;
             o.drop_last = drop_last;
             o.num_workers = num_workers;
             o.prefetch_batches = prefetch;
             o.transform = as_transform(transform);
             return std::make_shared<data::DataLoader>(as_dataset(dataset), o);
           }),
           py::arg("dataset"), py::arg("batch_size") = 1, py::arg("shuffle") = false, py::kw_only(),
           py::arg("seed") = 0, py::arg("drop_last") = false, py::arg("num_workers") = 0,
           py::arg("prefetch_factor") = 2, py::arg("transform") = py::none(), py::keep_alive<1, 2>())
      .def("__len__", &data::DataLoader::size)
      .def("__iter__", [](std::shared_ptr<data::DataLoader> l) {
        LoaderIter li;
        li.loader = std::move(l);
        return li;
      })
      .def_property_readonly("batch_size", [](const data::DataLoader& l) { return l.options().batch_size; })
      // The dataset it was given (a Python one as itself), for len(loader.dataset).
      .def_property_readonly("dataset", [](const data::DataLoader& l) -> py::object {
        const data::Dataset* ds = &l.dataset();
        if (auto* p = dynamic_cast<const PythonDataset*>(ds)) return p->object();
        // A C++ dataset: the Python object that wraps it (kept alive by keep_alive<1, 2>).
        return py::cast(const_cast<data::Dataset*>(ds), py::return_value_policy::reference);
      })
      .def_property("epoch", &data::DataLoader::epoch, &data::DataLoader::set_epoch)
      .def("set_epoch", &data::DataLoader::set_epoch, py::arg("epoch"))
      .def("order", &data::DataLoader::order, py::arg("epoch"));

  d.def("read_idx", &data::read_idx, py::arg("path"), GilRelease());
  d.def("write_idx", &data::write_idx, py::arg("path"), py::arg("tensor"), GilRelease());
  d.def("read_csv", [](const std::string& path, bool header, char delim) {
    std::vector<std::string> names;
    Tensor t;
    {
      py::gil_scoped_release r;
      t = data::read_csv(path, header, delim, &names);
    }
    return py::make_tuple(t, names);
  }, py::arg("path"), py::arg("header") = false, py::arg("delimiter") = ',');
}

}  // namespace tessera::python
