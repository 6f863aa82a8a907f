// CNN28 on Fashion-MNIST, Keras style: fit() with metrics, validation and callbacks, then
// evaluate().
//
//   mnist_keras_style [--epochs N]      (default 1; `tessera train` is the full job)
#include <tessera/models.h>
#include <tessera/tessera.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

using namespace tessera;

// A user-written callback: any hook of train::Callback can be overridden.
struct PrintBest : train::Callback {
  double best = 0;
  void on_epoch_end(int64_t epoch, train::Logs& logs, train::TrainContext&) override {
    if (logs["val_accuracy"] > best) best = logs["val_accuracy"];
    std::printf("  epoch %lld: best val_accuracy so far %.4f\n",
                static_cast<long long>(epoch + 1), best);
  }
};

int main(int argc, char** argv) {
  // Arguments through CLI11: `--epochs abc` or `--epochs 0` is an error (exit status 2,
  // the usual one for bad usage), not a silent 0.
  CLI::App app("CNN28 on Fashion-MNIST", "mnist_keras_style");
  int epochs = 1;
  app.add_option("--epochs", epochs, "epochs over the training set")->check(CLI::Range(1, 1000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message
    return 2;
  }

  manual_seed(0);  // initialization and dropout
  auto model = models::cnn28();
  const data::Normalize norm({0.2860}, {0.3530});  // Fashion-MNIST train-set mean and std
  data::DataLoader train_loader(std::make_shared<data::FashionMNIST>("", /*train=*/true),
                                {.batch_size = 64, .shuffle = true, .seed = 0, .transform = norm});
  data::DataLoader test_loader(std::make_shared<data::FashionMNIST>("", /*train=*/false),
                               {.batch_size = 256, .transform = norm});
  optim::Adam opt(model->parameters(), {.lr = 1e-3});
  auto loss = [](const Tensor& out, const Tensor& y) {
    return nn::functional::cross_entropy(out, y);
  };

  train::FitOptions options;
  options.epochs = epochs;
  options.optimizer = &opt;
  options.loss = loss;
  options.metrics = {std::make_shared<train::Accuracy>()};
  options.validation = &test_loader;  // val_loss and val_accuracy after every epoch
  options.callbacks = {
      std::make_shared<train::EarlyStopping>("val_accuracy", /*patience=*/2),
      std::make_shared<PrintBest>(),
  };
  train::History history = train::fit(*model, train_loader, options);

  train::Logs test = train::evaluate(*model, test_loader, loss,
                                     {std::make_shared<train::Accuracy>()});
  std::printf("epochs run: %zu, last loss: %.4f\n", history.size(), history.get("loss").back());
  std::printf("test_accuracy: %.4f\n", test.at("accuracy"));
  return 0;
}
