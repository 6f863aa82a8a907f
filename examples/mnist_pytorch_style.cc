// CNN28 on Fashion-MNIST, PyTorch style: an explicit loop of forward, loss, zero_grad,
// backward and step, then the test accuracy.
//
//   mnist_pytorch_style [--epochs N]      (default 1; `tessera train` is the full job)
#include <tessera/models.h>
#include <tessera/tessera.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

using namespace tessera;

int main(int argc, char** argv) {
  // Arguments through CLI11: `--epochs abc` or `--epochs 0` is an error (exit status 2,
  // the usual one for bad usage), not a silent 0.
  CLI::App app("CNN28 on Fashion-MNIST", "mnist_pytorch_style");
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

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    model->train();
    double loss_sum = 0;
    int64_t seen = 0;
    for (const data::Batch& b : train_loader) {
      Tensor logits = (*model)(b.input);                              // [64, 10]
      Tensor loss = nn::functional::cross_entropy(logits, b.target);  // mean over the batch
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<float>() * static_cast<double>(b.size());
      seen += b.size();
    }
    std::printf("epoch %d/%d  loss: %.4f\n", epoch, epochs, loss_sum / static_cast<double>(seen));
  }

  // Evaluation: eval mode (dropout off) and no graph recording.
  model->eval();
  autograd::NoGradGuard no_grad;
  int64_t correct = 0, total = 0;
  for (const data::Batch& b : test_loader) {
    Tensor predicted = argmax((*model)(b.input), 1);
    correct += eq(predicted, b.target).sum().item<int64_t>();
    total += b.size();
  }
  std::printf("test_accuracy: %.4f\n", static_cast<double>(correct) / static_cast<double>(total));
  return 0;
}
